"""Peewee migrations -- 012_planning_watermark.py (the scheduler plans only engagements that need it).

``engagement.planned_through``: the local date the scheduler last planned the engagement's schedules for;
NULL (every existing row, so the first tick after the upgrade plans them all) means "plan at the next
tick". A nullable column without a default is added in place on SQLite and PostgreSQL alike.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    migrator.add_fields(
        'engagement',

        planned_through=pw.DateField(null=True))

    migrator.add_index('engagement', 'timezone', 'planned_through', unique=False)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.drop_index('engagement', 'timezone', 'planned_through')

    migrator.remove_fields('engagement', 'planned_through')
