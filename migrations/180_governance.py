"""Peewee migrations -- 180_governance.py (forums, meetings, decisions, actions, change requests)."""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    @migrator.create_model
    class Forum(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        name = pw.CharField(max_length=200)
        tier = pw.CharField(max_length=12)
        cadence = pw.CharField(max_length=200)
        anchor = pw.DateField()
        chair = pw.ForeignKeyField(column_name='chair_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        next_check_at = pw.DateTimeField(null=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "forum"
            legacy_table_names = False
            indexes = [(('engagement', 'tier'), False), (('next_check_at',), False)]

    @migrator.create_model
    class Meeting(pw.Model):
        id = pw.AutoField()
        forum = pw.ForeignKeyField(column_name='forum_id', field='id', model=migrator.orm['forum'], on_delete='CASCADE')
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        scheduled_for = pw.DateTimeField()
        status = pw.CharField(default='scheduled', max_length=10)
        held_at = pw.DateTimeField(null=True)
        attendees = pw.TextField(default='[]')
        minutes = pw.ForeignKeyField(column_name='minutes_id', field='id', model=migrator.orm['evidence'], null=True, on_delete='RESTRICT')
        agenda = pw.TextField(default='')
        held_by = pw.ForeignKeyField(column_name='held_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "meeting"
            legacy_table_names = False
            indexes = [(('forum', 'scheduled_for'), True), (('engagement', 'status', 'scheduled_for'), False)]

    @migrator.create_model
    class Action(pw.Model):
        id = pw.AutoField()
        meeting = pw.ForeignKeyField(column_name='meeting_id', field='id', model=migrator.orm['meeting'], on_delete='CASCADE')
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        tier = pw.CharField(max_length=12)
        title = pw.CharField(max_length=200)
        owner = pw.ForeignKeyField(column_name='owner_id', field='id', model=migrator.orm['user'], on_delete='RESTRICT')
        due_date = pw.DateField()
        status = pw.CharField(default='open', max_length=10)
        finding = pw.ForeignKeyField(column_name='finding_id', field='id', model=migrator.orm['finding'], null=True, on_delete='SET NULL')
        kpi = pw.CharField(default='', max_length=40)
        escalated_at = pw.DateTimeField(null=True)
        created_by = pw.ForeignKeyField(column_name='created_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()
        closed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "action"
            legacy_table_names = False
            indexes = [(('engagement', 'status', 'due_date'), False), (('status', 'escalated_at', 'due_date'), False)]

    @migrator.create_model
    class ChangeRequest(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        title = pw.CharField(max_length=200)
        kind = pw.CharField(max_length=30)
        description = pw.TextField(default='')
        status = pw.CharField(default='proposed', max_length=12)
        proposed_side = pw.CharField(max_length=8)
        proposed_by = pw.ForeignKeyField(column_name='proposed_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        proposed_at = pw.DateTimeField()
        one_off_price = pw.DecimalField(auto_round=False, decimal_places=2, max_digits=14, null=True)
        monthly_price = pw.DecimalField(auto_round=False, decimal_places=2, max_digits=14, null=True)
        fte_impact = pw.DecimalField(auto_round=False, decimal_places=2, max_digits=14, null=True)
        kpi_impact = pw.TextField(default='')
        priced_by = pw.ForeignKeyField(column_name='priced_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        priced_at = pw.DateTimeField(null=True)
        decided_by = pw.ForeignKeyField(column_name='decided_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        decided_at = pw.DateTimeField(null=True)
        decision_reason = pw.TextField(default='')
        significant = pw.BooleanField(default=False)
        implemented_at = pw.DateTimeField(null=True)
        implemented_by = pw.ForeignKeyField(column_name='implemented_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        change_event = pw.ForeignKeyField(column_name='change_event_id', field='id', model=migrator.orm['change_event'], null=True, on_delete='SET NULL')

        class Meta:
            table_name = "change_request"
            legacy_table_names = False
            indexes = [(('engagement', 'status'), False)]

    @migrator.create_model
    class Decision(pw.Model):
        id = pw.AutoField()
        meeting = pw.ForeignKeyField(column_name='meeting_id', field='id', model=migrator.orm['meeting'], on_delete='CASCADE')
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        kind = pw.CharField(max_length=20)
        text = pw.TextField()
        created_by = pw.ForeignKeyField(column_name='created_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "decision"
            legacy_table_names = False

    @migrator.create_model
    class ForumMember(pw.Model):
        id = pw.AutoField()
        forum = pw.ForeignKeyField(column_name='forum_id', field='id', model=migrator.orm['forum'], on_delete='CASCADE')
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE')

        class Meta:
            table_name = "forum_member"
            legacy_table_names = False
            indexes = [(('forum', 'user'), True)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_model('forum_member')

    migrator.remove_model('decision')

    migrator.remove_model('change_request')

    migrator.remove_model('action')

    migrator.remove_model('meeting')

    migrator.remove_model('forum')
