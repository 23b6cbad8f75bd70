"""Peewee migrations -- 161_scim.py (SCIM 2.0 provisioning: organisation tokens, provisioned users and groups)."""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    @migrator.create_model
    class ScimGroup(pw.Model):
        id = pw.AutoField()
        organisation = pw.ForeignKeyField(column_name='organisation_id', field='id', model=migrator.orm['organisation'], on_delete='CASCADE')
        display_name = pw.CharField(max_length=254)
        external_id = pw.CharField(max_length=254, null=True)
        document = pw.TextField(default='{}')
        version = pw.IntegerField(default=1)
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "scim_group"
            legacy_table_names = False
            indexes = [(('organisation', 'display_name'), False)]

    @migrator.create_model
    class ScimToken(pw.Model):
        id = pw.AutoField()
        organisation = pw.ForeignKeyField(column_name='organisation_id', field='id', model=migrator.orm['organisation'], on_delete='CASCADE')
        name = pw.CharField(default='', max_length=100)
        token_hash = pw.CharField(max_length=64, unique=True)
        prefix = pw.CharField(max_length=12)
        created_by = pw.ForeignKeyField(column_name='created_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()
        last_used_at = pw.DateTimeField(null=True)
        revoked_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "scim_token"
            legacy_table_names = False
            indexes = [(('organisation', 'revoked_at'), False)]

    @migrator.create_model
    class ScimUser(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE', unique=True)
        organisation = pw.ForeignKeyField(column_name='organisation_id', field='id', model=migrator.orm['organisation'], on_delete='CASCADE')
        user_name = pw.CharField(max_length=254)
        user_name_key = pw.CharField(max_length=254)
        external_id = pw.CharField(max_length=254, null=True)
        document = pw.TextField(default='{}')
        version = pw.IntegerField(default=1)
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        deleted_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "scim_user"
            legacy_table_names = False
            indexes = [(('organisation', 'user_name_key'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_model('scim_user')

    migrator.remove_model('scim_token')

    migrator.remove_model('scim_group')
