"""Peewee migrations -- 181_performance_reports.py (the performance report, built in the background like a pack)."""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    @migrator.create_model
    class PerformanceReport(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        meeting = pw.ForeignKeyField(column_name='meeting_id', field='id', model=migrator.orm['meeting'], null=True, on_delete='SET NULL')
        period_start = pw.DateField()
        period_end = pw.DateField()
        status = pw.CharField(default='queued', max_length=10)
        progress = pw.IntegerField(default=0)
        requested_by = pw.ForeignKeyField(column_name='requested_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        claimed_by = pw.CharField(default='', max_length=120)
        claimed_at = pw.DateTimeField(null=True)
        pdf_sha256 = pw.CharField(default='', max_length=64)
        pdf_size = pw.BigIntegerField(default=0)
        xlsx_sha256 = pw.CharField(default='', max_length=64)
        xlsx_size = pw.BigIntegerField(default=0)
        error = pw.TextField(default='')
        created_at = pw.DateTimeField()
        finished_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "performance_report"
            legacy_table_names = False
            indexes = [(('status', 'created_at'), False), (('engagement', 'created_at'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_model('performance_report')
