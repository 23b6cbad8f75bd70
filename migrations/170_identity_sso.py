"""Peewee migrations -- 170_identity_sso.py (single sign-on: settings, declared domains, flows in flight,
SAML responses seen)."""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    @migrator.create_model
    class SsoConfig(pw.Model):
        id = pw.AutoField()
        organisation = pw.ForeignKeyField(column_name='organisation_id', field='id', model=migrator.orm['organisation'], on_delete='CASCADE', unique=True)
        slug = pw.CharField(max_length=64, unique=True)
        protocol = pw.CharField(max_length=8)
        enabled = pw.BooleanField(default=False)
        issuer = pw.CharField(max_length=500, default='')
        client_id = pw.CharField(max_length=255, default='')
        client_secret_enc = pw.TextField(default='')
        idp_metadata = pw.TextField(default='')
        default_role = pw.CharField(max_length=32, default='')
        group_claim = pw.CharField(max_length=100, default='')
        group_roles = pw.TextField(default='{}')
        create_users = pw.BooleanField(default=False)
        password_allowed = pw.BooleanField(default=False)
        updated_at = pw.DateTimeField()
        updated_by = pw.ForeignKeyField(column_name='updated_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')

        class Meta:
            table_name = "sso_config"
            legacy_table_names = False

    @migrator.create_model
    class SsoDomain(pw.Model):
        id = pw.AutoField()
        config = pw.ForeignKeyField(column_name='config_id', field='id', model=migrator.orm['sso_config'], on_delete='CASCADE')
        domain = pw.CharField(max_length=253, unique=True)
        declared_by = pw.ForeignKeyField(column_name='declared_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        declared_at = pw.DateTimeField()

        class Meta:
            table_name = "sso_domain"
            legacy_table_names = False

    @migrator.create_model
    class SsoFlow(pw.Model):
        id = pw.AutoField()
        config = pw.ForeignKeyField(column_name='config_id', field='id', model=migrator.orm['sso_config'], on_delete='CASCADE')
        key = pw.CharField(max_length=64, unique=True)
        nonce = pw.CharField(max_length=64, default='')
        code_verifier = pw.CharField(max_length=128, default='')
        next_path = pw.CharField(max_length=500, default='')
        test_only = pw.BooleanField(default=False)
        created_at = pw.DateTimeField(index=True)
        used_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "sso_flow"
            legacy_table_names = False

    @migrator.create_model
    class SsoResponseSeen(pw.Model):
        id = pw.AutoField()
        config = pw.ForeignKeyField(column_name='config_id', field='id', model=migrator.orm['sso_config'], on_delete='CASCADE')
        response_id = pw.CharField(max_length=255, unique=True)
        seen_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "sso_response_seen"
            legacy_table_names = False


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_model('sso_response_seen')
    migrator.remove_model('sso_flow')
    migrator.remove_model('sso_domain')
    migrator.remove_model('sso_config')
