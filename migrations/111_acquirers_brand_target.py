"""Peewee migrations -- 111_acquirers_brand_target.py.

Card-brand notice per acquirer: the engagement's acquirers with their hours, a clock's ``party`` (the
acquirer it is owed to; '' for every other clock) in both unique keys of a clock, and the engagement's
internal target for the brands' "immediately".
"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""

    if isinstance(getattr(database, "obj", database), pw.SqliteDatabase):
        # In place (see 002): a rebuild of "clock" or "engagement" would cascade through referencing rows.
        migrator.sql("""ALTER TABLE "clock" ADD COLUMN "party" VARCHAR(100) NOT NULL DEFAULT ''""")
        migrator.sql("""ALTER TABLE "engagement" ADD COLUMN "pci_brand_target_hours" INTEGER NOT NULL DEFAULT 0""")
        with migrator.fake():
            migrator.add_fields('clock', party=pw.CharField(default='', max_length=100))
            migrator.add_fields('engagement', pci_brand_target_hours=pw.IntegerField(default=0))
    else:
        migrator.add_fields('clock', party=pw.CharField(default='', max_length=100))
        migrator.add_fields('engagement', pci_brand_target_hours=pw.IntegerField(default=0))

    migrator.drop_index('clock', 'incident', 'rule_id')
    migrator.drop_index('clock', 'engagement', 'subject_type', 'subject_id', 'rule_id')
    migrator.add_index('clock', 'incident', 'rule_id', 'party', unique=True)
    migrator.add_index('clock', 'engagement', 'subject_type', 'subject_id', 'rule_id', 'party', unique=True)

    @migrator.create_model
    class Acquirer(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'],
                                        on_delete='CASCADE')
        name = pw.CharField(max_length=100)
        hours = pw.IntegerField()

        class Meta:
            table_name = "acquirer"
            legacy_table_names = False
            indexes = [(('engagement', 'name'), True)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""

    migrator.remove_model('acquirer')
    migrator.drop_index('clock', 'engagement', 'subject_type', 'subject_id', 'rule_id', 'party')
    migrator.drop_index('clock', 'incident', 'rule_id', 'party')
    migrator.add_index('clock', 'incident', 'rule_id', unique=True)
    migrator.add_index('clock', 'engagement', 'subject_type', 'subject_id', 'rule_id', unique=True)
    migrator.remove_fields('engagement', 'pci_brand_target_hours')
    migrator.remove_fields('clock', 'party')
