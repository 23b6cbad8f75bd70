"""Peewee migrations -- 141_void_change_events.py (a change event recorded by mistake is voided, not deleted).

``change_event.voided_at``, ``voided_by_email`` and ``void_reason``: NULL for every existing row (none is void).
Nullable columns without a default are added in place on SQLite and PostgreSQL alike.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    migrator.add_fields(
        'change_event',

        voided_at=pw.DateTimeField(null=True),
        voided_by_email=pw.CharField(max_length=254, null=True),
        void_reason=pw.TextField(null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_fields('change_event', 'voided_at', 'voided_by_email', 'void_reason')
