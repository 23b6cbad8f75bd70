"""Peewee migrations -- 182_governance_reminders.py (an action's due reminder and a meeting's agenda notice, once
each; nullable columns added in place)."""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    migrator.add_fields(
        'meeting',

        agenda_sent_at=pw.DateTimeField(null=True))

    migrator.add_index('meeting', 'status', 'agenda_sent_at', 'scheduled_for', unique=False)

    migrator.add_fields(
        'action',

        due_notified_at=pw.DateTimeField(null=True))

    migrator.add_index('action', 'status', 'due_notified_at', 'due_date', unique=False)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_fields('action', 'due_notified_at')

    migrator.drop_index('action', 'status', 'due_notified_at', 'due_date')

    migrator.remove_fields('meeting', 'agenda_sent_at')

    migrator.drop_index('meeting', 'status', 'agenda_sent_at', 'scheduled_for')
