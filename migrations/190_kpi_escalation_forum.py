"""Peewee migrations -- 190_kpi_escalation_forum.py (a KPI finding's tier forum told once per tier: a nullable
marker column added in place, and its index)."""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    migrator.add_fields(
        'kpi_escalation',

        forum_notified_at=pw.DateTimeField(null=True))

    migrator.add_index('kpi_escalation', 'forum_notified_at', 'id', unique=False)

    # escalations made before this were notified to everyone already: their forums are not told again
    migrator.sql('UPDATE kpi_escalation SET forum_notified_at = created_at')


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.drop_index('kpi_escalation', 'forum_notified_at', 'id')

    migrator.remove_fields('kpi_escalation', 'forum_notified_at')
