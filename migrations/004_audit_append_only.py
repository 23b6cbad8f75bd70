"""Peewee migrations -- 004_audit_append_only.py.

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


# The audit trail is append-only: the database itself refuses UPDATE and DELETE on audit_event rows, whoever
# asks. Users are deactivated, never deleted, so audit_event.actor_id's ON DELETE SET NULL never needs to
# update a row (a rebuild of "user" that would null it out now fails instead of silently emptying actors).
# PostgreSQL TRUNCATE fires no row trigger (operators and the test suite empty tables with it); SQLite has no
# TRUNCATE, so its test helper drops and recreates these triggers around its DELETE.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused'); END""",
]
POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
           MESSAGE = 'audit events are append-only: ' || TG_OP || ' refused';
       END $$""",
    """DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS audit_event_no_update", "DROP TRIGGER IF EXISTS audit_event_no_delete"]
POSTGRES_DROP = ["DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
                 "DROP FUNCTION IF EXISTS audit_event_append_only()"]


def _is_sqlite(database: pw.Database) -> bool:
    return isinstance(getattr(database, "obj", database), pw.SqliteDatabase)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """The actor filter's index; triggers that make audit_event append-only."""
    migrator.add_index('audit_event', 'actor_email', 'at', unique=False)
    for sql in SQLITE_TRIGGERS if _is_sqlite(database) else POSTGRES_TRIGGERS:
        migrator.sql(sql)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop the triggers and the index."""
    for sql in SQLITE_DROP if _is_sqlite(database) else POSTGRES_DROP:
        migrator.sql(sql)
    migrator.drop_index('audit_event', 'actor_email', 'at')
