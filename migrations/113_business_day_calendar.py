"""Peewee migrations -- 113_business_day_calendar.py.

Which calendar an engagement's business-day clocks count by (its place, the client's head office, or the
intersection of both), the head-office state, and the site's region (regional holidays count there only).
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext

COLUMNS = {
    "business_day_calendar": (pw.CharField(default='place', max_length=20), "VARCHAR(20) NOT NULL DEFAULT 'place'"),
    "head_office": (pw.CharField(default='', max_length=20), "VARCHAR(20) NOT NULL DEFAULT ''"),
    "site_region": (pw.CharField(default='', max_length=60), "VARCHAR(60) NOT NULL DEFAULT ''"),
}


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    if isinstance(getattr(database, "obj", database), pw.SqliteDatabase):
        # In place (see 002): a rebuild of "engagement" would cascade through every referencing row.
        for name, (_field, sql) in COLUMNS.items():
            migrator.sql(f'ALTER TABLE "engagement" ADD COLUMN "{name}" {sql}')
        with migrator.fake():
            migrator.add_fields('engagement', **{name: f for name, (f, _sql) in COLUMNS.items()})
    else:
        migrator.add_fields('engagement', **{name: f for name, (f, _sql) in COLUMNS.items()})


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_fields('engagement', *COLUMNS)
