"""Peewee migrations -- 240_void_incidents.py (an incident recorded by mistake is voided, not deleted).

``incident.voided_at``, ``voided_by_email`` and ``void_reason``: NULL for every existing row (none is void), as
``change_event``'s (migration 141). A finding voided by mistake needs no column: ``void`` is a state of its
state machine (``domain.findings``) and its reason is in its audited timeline.
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
        'incident',

        voided_at=pw.DateTimeField(null=True),
        voided_by_email=pw.CharField(max_length=254, null=True),
        void_reason=pw.TextField(null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_fields('incident', 'voided_at', 'voided_by_email', 'void_reason')
