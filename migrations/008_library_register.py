"""Peewee migrations -- 004_library_register.py.

Some examples (model - class or model name)::

    > Model = migrator.orm['table_name']            # Return model in current state by name
    > Model = migrator.ModelClass                   # Return model in current state by name

    > migrator.sql(sql)                             # Run custom SQL
    > migrator.run(func, *args, **kwargs)           # Run python function with the given args
    > migrator.create_model(Model)                  # Create a model (could be used as decorator)
    > migrator.remove_model(model, cascade=True)    # Remove a model
    > migrator.add_fields(model, **fields)          # Add fields (allow_not_null=True skips default)
    > migrator.change_fields(model, **fields)       # Change fields
    > migrator.remove_fields(model, *field_names, cascade=True)
    > migrator.rename_field(model, old_field_name, new_field_name)
    > migrator.rename_table(model, new_table_name)
    > migrator.add_index(model, *col_names, unique=False)
    > migrator.add_not_null(model, *field_names)
    > migrator.add_default(model, field_name, default)
    > migrator.add_constraint(model, name, sql)
    > migrator.drop_index(model, *col_names)
    > migrator.drop_not_null(model, *field_names)
    > migrator.drop_constraints(model, *constraints)

"""

from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""
    
    # Columns with a constant default are added in place. Not peewee's add_fields on SQLite: it would rebuild
    # (copy, DROP TABLE, rename) evidence_request, and with foreign keys on, dropping it deletes or nulls out
    # what references it (evidence). See 002_user_session_nonce.py.
    if isinstance(getattr(database, "obj", database), pw.SqliteDatabase):
        migrator.sql('ALTER TABLE "evidence_request" ADD COLUMN "lane" INTEGER NOT NULL DEFAULT 0')
        migrator.sql('ALTER TABLE "control_obligation" ADD COLUMN "note" VARCHAR(300) NOT NULL DEFAULT \'\'')
        with migrator.fake():  # record the fields in the migrator's picture of the schema, run nothing
            migrator.add_fields('evidence_request', lane=pw.IntegerField(default=0))
            migrator.add_fields('control_obligation', note=pw.CharField(default='', max_length=300))
    else:
        migrator.add_fields('evidence_request', lane=pw.IntegerField(default=0))
        migrator.add_fields('control_obligation', note=pw.CharField(default='', max_length=300))

    migrator.drop_index('evidence_request', 'engagement', 'requirement', 'period_start')

    migrator.add_index('evidence_request', 'engagement', 'requirement', 'period_start', 'lane', unique=True)

    @migrator.create_model
    class Subcontractor(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='RESTRICT')
        name = pw.CharField(max_length=200)
        services = pw.TextField()
        critical_operations = pw.TextField(default='[]')
        countries = pw.TextField()
        data_categories = pw.TextField(default='[]')
        personal_information = pw.BooleanField(default=False)
        personal_information_detail = pw.CharField(default='', max_length=300)
        material = pw.BooleanField(default=False)
        status = pw.CharField(default='proposed', max_length=10)
        agreement_date = pw.DateField(null=True)
        apra_notified_on = pw.DateField(null=True)
        proposed_by = pw.ForeignKeyField(column_name='proposed_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        proposed_at = pw.DateTimeField()
        decided_by = pw.ForeignKeyField(column_name='decided_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        decided_at = pw.DateTimeField(null=True)
        decision_reason = pw.TextField(default='')

        class Meta:
            table_name = "subcontractor"
            legacy_table_names = False
            indexes = [(('engagement', 'status'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    
    migrator.remove_fields('control_obligation', 'note')

    migrator.remove_fields('evidence_request', 'lane')

    migrator.drop_index('evidence_request', 'engagement', 'requirement', 'period_start', 'lane')

    migrator.add_index('evidence_request', 'engagement', 'requirement', 'period_start', unique=True)

    migrator.remove_model('subcontractor')
