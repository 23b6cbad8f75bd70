"""Peewee migrations -- 150_performance.py (KPIs and their versions, results, commercial settings, monthly volumes,
service credits, the escalation ladder)."""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    @migrator.create_model
    class CommercialSettings(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE', unique=True)
        currency = pw.CharField(default='AUD', max_length=3)
        at_risk_pct = pw.CharField(default='12', max_length=40)
        pool_pct = pw.CharField(default='250', max_length=40)
        repeat_multiplier = pw.CharField(default='1.0', max_length=40)
        earn_back_months = pw.IntegerField(default=0)
        surge_tolerance_pct = pw.CharField(default='10', max_length=40)
        bands = pw.TextField(default='[]')
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "commercial_settings"
            legacy_table_names = False

    @migrator.create_model
    class Kpi(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='RESTRICT')
        code = pw.CharField(max_length=40)
        name = pw.CharField(max_length=200)
        category = pw.CharField(max_length=20)
        unit = pw.CharField(max_length=10)
        direction = pw.CharField(max_length=6)
        period = pw.CharField(max_length=7)
        volume_sensitive = pw.BooleanField(default=False)
        template = pw.CharField(default='', max_length=40)
        client_owner = pw.ForeignKeyField(column_name='client_owner_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        provider_owner = pw.ForeignKeyField(column_name='provider_owner_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_by = pw.ForeignKeyField(column_name='created_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "kpi"
            legacy_table_names = False
            indexes = [(('engagement', 'code'), True)]

    @migrator.create_model
    class KpiEscalation(pw.Model):
        id = pw.AutoField()
        finding = pw.ForeignKeyField(column_name='finding_id', field='id', model=migrator.orm['finding'], on_delete='CASCADE', unique=True)
        kpi = pw.ForeignKeyField(column_name='kpi_id', field='id', model=migrator.orm['kpi'], on_delete='CASCADE')
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        period = pw.CharField(max_length=8)
        tier = pw.CharField(default='operational', max_length=12)
        plan_due = pw.DateField()
        followed_up_in = pw.CharField(max_length=8, null=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "kpi_escalation"
            legacy_table_names = False
            indexes = [(('engagement', 'plan_due'), False)]

    @migrator.create_model
    class KpiResult(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='RESTRICT')
        kpi = pw.ForeignKeyField(column_name='kpi_id', field='id', model=migrator.orm['kpi'], on_delete='CASCADE')
        period = pw.CharField(max_length=8)
        period_start = pw.DateField()
        month = pw.CharField(max_length=7)
        n = pw.IntegerField(default=1)
        value = pw.CharField(max_length=40)
        volume = pw.BigIntegerField(null=True)
        evidence = pw.ForeignKeyField(column_name='evidence_id', field='id', model=migrator.orm['evidence'], null=True, on_delete='SET NULL')
        evidence_sha256 = pw.CharField(default='', max_length=64)
        state = pw.CharField(default='submitted', max_length=10)
        version = pw.IntegerField(null=True)
        judged = pw.CharField(max_length=16, null=True)
        outcome = pw.CharField(max_length=16, null=True)
        excuse_reason = pw.TextField(default='')
        review_comment = pw.TextField(default='')
        submitted_by = pw.ForeignKeyField(column_name='submitted_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        submitted_at = pw.DateTimeField()
        reviewed_by = pw.ForeignKeyField(column_name='reviewed_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        reviewed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "kpi_result"
            legacy_table_names = False
            indexes = [(('kpi', 'period', 'n'), True), (('engagement', 'month', 'state'), False), (('engagement', 'state', 'outcome'), False)]

    @migrator.create_model
    class KpiVersion(pw.Model):
        id = pw.AutoField()
        kpi = pw.ForeignKeyField(column_name='kpi_id', field='id', model=migrator.orm['kpi'], on_delete='CASCADE')
        n = pw.IntegerField()
        state = pw.CharField(max_length=10)
        expected = pw.CharField(max_length=40)
        minimum = pw.CharField(max_length=40)
        allocation_pct = pw.CharField(default='0', max_length=40)
        critical = pw.BooleanField(default=False)
        definition = pw.TextField()
        effective_from = pw.CharField(max_length=8)
        effective_start = pw.DateField()
        reason = pw.TextField(default='')
        proposed_side = pw.CharField(default='client', max_length=8)
        proposed_by = pw.ForeignKeyField(column_name='proposed_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        proposed_at = pw.DateTimeField()
        decided_by = pw.ForeignKeyField(column_name='decided_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        decided_at = pw.DateTimeField(null=True)
        decision_reason = pw.TextField(default='')

        class Meta:
            table_name = "kpi_version"
            legacy_table_names = False
            indexes = [(('kpi', 'n'), True)]

    @migrator.create_model
    class MonthVolume(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        month = pw.CharField(max_length=7)
        forecast_volume = pw.BigIntegerField(null=True)
        actual_volume = pw.BigIntegerField(null=True)
        charges = pw.CharField(max_length=40, null=True)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "month_volume"
            legacy_table_names = False
            indexes = [(('engagement', 'month'), True)]

    @migrator.create_model
    class ServiceCredit(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='RESTRICT')
        kpi = pw.ForeignKeyField(column_name='kpi_id', field='id', model=migrator.orm['kpi'], on_delete='CASCADE')
        month = pw.CharField(max_length=7)
        allocation_pct = pw.CharField(max_length=40)
        multiplier = pw.CharField(max_length=40)
        accrued = pw.CharField(max_length=40)
        amount = pw.CharField(max_length=40)
        capped = pw.BooleanField(default=False)
        state = pw.CharField(max_length=12)
        reference = pw.CharField(default='', max_length=100)
        reason = pw.TextField(default='')
        settled_by = pw.ForeignKeyField(column_name='settled_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        settled_at = pw.DateTimeField(null=True)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "service_credit"
            legacy_table_names = False
            indexes = [(('kpi', 'month'), True), (('engagement', 'month'), False), (('state', 'engagement'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    
    migrator.remove_model('service_credit')

    migrator.remove_model('month_volume')

    migrator.remove_model('kpi_version')

    migrator.remove_model('kpi_result')

    migrator.remove_model('kpi_escalation')

    migrator.remove_model('kpi')

    migrator.remove_model('commercial_settings')
