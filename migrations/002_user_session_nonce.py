"""Peewee migrations -- 002_user_session_nonce.py.

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

import secrets
from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""
    
    # Every user gets a nonce of its own. Session cookies issued before this migration hold a bare user
    # id, which the app no longer accepts: everyone signs in once more.
    if isinstance(getattr(database, "obj", database), pw.SqliteDatabase):
        # Not peewee's add_fields here: SQLite cannot make an existing column NOT NULL, so peewee would
        # rebuild "user" (copy, DROP TABLE, rename), and with foreign keys on, dropping it deletes every
        # API token (ON DELETE CASCADE), empties audit_event.actor_id and the other SET NULL references, and
        # fails on auditor grants (RESTRICT). A NOT NULL column with a constant default can be added in
        # place; the '' default stays in SQLite's schema, but the app always writes a nonce and never
        # accepts an empty one.
        migrator.sql("""ALTER TABLE "user" ADD COLUMN "session_nonce" VARCHAR(32) NOT NULL DEFAULT ''""")
        with migrator.fake():  # record the field in the migrator's picture of the schema, run nothing
            migrator.add_fields('user', session_nonce=pw.CharField(max_length=32))
    else:
        # PostgreSQL: added nullable, filled with '', then SET NOT NULL, all in place.
        migrator.add_fields(
            'user',

            session_nonce=pw.CharField(max_length=32, default=''))

    def give_each_user_a_nonce():
        user = migrator.orm['user']
        for (user_id,) in user.select(user.id).tuples():
            user.update(session_nonce=secrets.token_hex(16)).where(user.id == user_id).execute()

    migrator.run(give_each_user_a_nonce)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    
    migrator.remove_fields('user', 'session_nonce')
