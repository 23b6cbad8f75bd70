"""Peewee migrations -- 013_tick_indexes.py (the scheduler's idle pass reads index ranges only).

``evidence_request (status, period_start)``: the tick's upcoming -> open move looks for upcoming requests
whose period has started; through ``(status, due_at)`` it read every upcoming request's row to compare its
``period_start`` (about 29,000 at ``demo --scale 280``) at every pass.
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    migrator.add_index('evidence_request', 'status', 'period_start', unique=False)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.drop_index('evidence_request', 'status', 'period_start')
