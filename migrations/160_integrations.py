"""Peewee migrations -- 160_integrations.py (signed webhooks: endpoints, delivery outbox, attempts; calendar feeds)."""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    @migrator.create_model
    class CalendarFeed(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE')
        secret_hash = pw.CharField(max_length=64, unique=True)
        prefix = pw.CharField(max_length=12)
        created_at = pw.DateTimeField()
        last_used_at = pw.DateTimeField(null=True)
        revoked_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "calendar_feed"
            legacy_table_names = False
            indexes = [(('user', 'revoked_at'), False)]

    @migrator.create_model
    class WebhookEndpoint(pw.Model):
        id = pw.AutoField()
        organisation = pw.ForeignKeyField(column_name='organisation_id', field='id', model=migrator.orm['organisation'], on_delete='CASCADE')
        url = pw.CharField(max_length=2000)
        events = pw.TextField()
        secret_encrypted = pw.TextField()
        created_by = pw.ForeignKeyField(column_name='created_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()
        deleted_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "webhook_endpoint"
            legacy_table_names = False
            indexes = [(('organisation', 'deleted_at'), False)]

    @migrator.create_model
    class WebhookDelivery(pw.Model):
        id = pw.AutoField()
        endpoint = pw.ForeignKeyField(column_name='endpoint_id', field='id', model=migrator.orm['webhook_endpoint'], on_delete='CASCADE')
        message_id = pw.CharField(max_length=64)
        event = pw.CharField(max_length=40)
        payload = pw.TextField()
        created_at = pw.DateTimeField()
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField()
        claim_token = pw.CharField(max_length=32, null=True)
        claimed_until = pw.DateTimeField(null=True)
        delivered_at = pw.DateTimeField(null=True)
        failed_at = pw.DateTimeField(null=True)
        last_status = pw.IntegerField(null=True)
        last_error = pw.TextField(default='')

        class Meta:
            table_name = "webhook_delivery"
            legacy_table_names = False
            indexes = [(('endpoint', 'message_id'), True), (('delivered_at', 'failed_at', 'next_attempt_at'), False), (('endpoint', 'created_at'), False)]

    @migrator.create_model
    class WebhookAttempt(pw.Model):
        id = pw.AutoField()
        delivery = pw.ForeignKeyField(column_name='delivery_id', field='id', model=migrator.orm['webhook_delivery'], on_delete='CASCADE')
        at = pw.DateTimeField()
        status_code = pw.IntegerField(null=True)
        error = pw.TextField(default='')
        duration_ms = pw.IntegerField(default=0)
        address = pw.CharField(default='', max_length=64)

        class Meta:
            table_name = "webhook_attempt"
            legacy_table_names = False
            indexes = [(('delivery', 'at'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_model('webhook_attempt')

    migrator.remove_model('webhook_delivery')

    migrator.remove_model('webhook_endpoint')

    migrator.remove_model('calendar_feed')
