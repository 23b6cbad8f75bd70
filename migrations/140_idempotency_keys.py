"""Peewee migrations -- 140_idempotency_keys.py (a creating request's key and its response, replayed on a repeat)."""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    @migrator.create_model
    class IdempotencyKey(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE')
        key = pw.CharField(max_length=200)
        method_path = pw.CharField(max_length=500)
        status = pw.IntegerField(null=True)
        content_type = pw.CharField(max_length=200, default='')
        location = pw.CharField(max_length=2000, default='')
        body = pw.TextField(default='')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "idempotency_key"
            legacy_table_names = False
            indexes = [(('user', 'key'), True), (('created_at',), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_model('idempotency_key')
