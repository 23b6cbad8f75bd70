"""Peewee migrations -- 100_request_comments.py (comments on a request or one of its evidence items)."""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    @migrator.create_model
    class RequestComment(pw.Model):
        id = pw.AutoField()
        request = pw.ForeignKeyField(column_name='request_id', field='id', model=migrator.orm['evidence_request'], on_delete='CASCADE')
        evidence = pw.ForeignKeyField(column_name='evidence_id', field='id', model=migrator.orm['evidence'], null=True, on_delete='RESTRICT')
        author = pw.ForeignKeyField(column_name='author_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        author_email = pw.CharField(max_length=254)
        side = pw.CharField(max_length=8)
        body = pw.TextField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "request_comment"
            legacy_table_names = False
            indexes = [(('request', 'created_at'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_model('request_comment')
