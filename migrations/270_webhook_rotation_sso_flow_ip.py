"""Peewee migrations -- 270_webhook_rotation_sso_flow_ip.py.

``webhook_endpoint.previous_secret_encrypted`` and ``previous_secret_until``: after a secret rotation the old
secret still signs (alongside the new one) until then; NULL for every existing webhook (none was rotated).
``sso_flow.ip``: the client address that started a sign-in, so starts can be limited per address; NULL for
flows already in flight. Nullable columns are added in place on SQLite and PostgreSQL alike.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """The rotation's columns, and the flow's address with the index its per-address count reads."""
    migrator.add_fields(
        'webhook_endpoint',
        previous_secret_encrypted=pw.TextField(null=True),
        previous_secret_until=pw.DateTimeField(null=True))
    migrator.add_fields('sso_flow', ip=pw.CharField(max_length=64, null=True))
    migrator.add_index('sso_flow', 'ip', 'created_at')


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop them again."""
    migrator.drop_index('sso_flow', 'ip', 'created_at')
    migrator.remove_fields('sso_flow', 'ip')
    migrator.remove_fields('webhook_endpoint', 'previous_secret_encrypted', 'previous_secret_until')
