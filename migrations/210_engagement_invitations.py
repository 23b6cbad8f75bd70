"""Peewee migrations -- 210_engagement_invitations.py.

An engagement's provider takes part by consent: the client's invitation to the provider organisation it named,
accepted or declined by that provider's admin. Existing engagements have no invitation: their provider stands.
"""

import peewee as pw
from peewee_migrate import Migrator


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """The invitation table."""

    @migrator.create_model
    class EngagementInvitation(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'],
                                        on_delete='CASCADE', unique=True)
        provider_name = pw.CharField(max_length=200)
        name_key = pw.CharField(max_length=200, index=True)
        state = pw.CharField(default='pending', max_length=20)
        invited_by = pw.ForeignKeyField(column_name='invited_by_id', field='id', model=migrator.orm['user'],
                                        null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()
        decided_by = pw.ForeignKeyField(column_name='decided_by_id', field='id', model=migrator.orm['user'],
                                        null=True, on_delete='SET NULL')
        decided_at = pw.DateTimeField(null=True)
        reason = pw.CharField(default='', max_length=1000)

        class Meta:
            table_name = "engagement_invitation"
            legacy_table_names = False


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop the invitations."""
    migrator.remove_model("engagement_invitation")
