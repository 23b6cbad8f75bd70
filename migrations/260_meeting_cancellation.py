"""Peewee migrations -- 260_meeting_cancellation.py (a cancelled meeting keeps when and why it was cancelled; its
agenda is kept in the existing ``agenda`` column. Nullable columns added in place: no table rebuild, which on
SQLite would cascade to the meeting's decisions and actions)."""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """The meeting's cancellation: its reason and instant."""
    migrator.add_fields('meeting', cancelled_at=pw.DateTimeField(null=True), cancel_reason=pw.TextField(null=True))


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop them again."""
    migrator.remove_fields('meeting', 'cancelled_at', 'cancel_reason')
