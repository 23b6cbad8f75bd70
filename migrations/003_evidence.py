"""Peewee migrations -- 003_evidence.py.

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
    
    # Who uploads the evidence of a requirement (SPEC §2): the provider (default) or the client.
    if isinstance(getattr(database, "obj", database), pw.SqliteDatabase):
        # As in 002: peewee would rebuild evidence_requirement on SQLite to add a NOT NULL column, and dropping
        # it with foreign keys on fails on the requests that point at it (RESTRICT). Added in place instead.
        migrator.sql("""ALTER TABLE "evidence_requirement" ADD COLUMN "produced_by" VARCHAR(10) NOT NULL """
                     """DEFAULT 'provider'""")
        with migrator.fake():
            migrator.add_fields('evidence_requirement', produced_by=pw.CharField(default='provider', max_length=10))
    else:
        migrator.add_fields('evidence_requirement', produced_by=pw.CharField(default='provider', max_length=10))

    migrator.add_index('evidence', 'status', 'uploaded_at', 'engagement', 'uploaded_by', unique=False)

    @migrator.create_model
    class RequestHistory(pw.Model):
        id = pw.AutoField()
        request = pw.ForeignKeyField(column_name='request_id', field='id', model=migrator.orm['evidence_request'], on_delete='CASCADE')
        subject = pw.CharField(default='request', max_length=8)
        evidence = pw.ForeignKeyField(column_name='evidence_id', field='id', model=migrator.orm['evidence'], null=True, on_delete='RESTRICT')
        from_status = pw.CharField(max_length=12)
        to_status = pw.CharField(max_length=12)
        at = pw.DateTimeField()
        actor = pw.ForeignKeyField(column_name='actor_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        actor_email = pw.CharField(default='', max_length=254)
        reason = pw.TextField(default='')

        class Meta:
            table_name = "request_history"
            legacy_table_names = False
            indexes = [(('request', 'at'), False)]


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    
    migrator.drop_index('evidence', 'status', 'uploaded_at', 'engagement', 'uploaded_by')

    migrator.remove_fields('evidence_requirement', 'produced_by')

    migrator.remove_model('request_history')
