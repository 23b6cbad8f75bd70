"""Peewee migrations -- 112_arrangements.py.

The client's own agreement with the provider, entered or materially changed (CPS 230 para 59(a)), with the
offshoring notice to APRA (para 59(b)).
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    @migrator.create_model
    class Arrangement(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'],
                                        on_delete='RESTRICT')
        kind = pw.CharField(max_length=20)
        agreement_date = pw.DateField()
        offshore = pw.BooleanField(default=False)
        apra_notified_on = pw.DateField(null=True)
        description = pw.TextField(default='')
        created_by = pw.ForeignKeyField(column_name='created_by_id', field='id', model=migrator.orm['user'],
                                        null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "arrangement"
            legacy_table_names = False
            indexes = [(('engagement', 'agreement_date'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_model('arrangement')
