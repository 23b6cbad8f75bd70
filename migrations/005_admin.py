"""Peewee migrations -- 005_admin.py.

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

import datetime as dt
import hashlib
from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""
    
    # The outbox gains what a sender needs to claim, retry and recognise a message. message_id is added
    # nullable, filled from each row's dedupe key (services.messages.mail.message_id_for), then made NOT NULL.
    migrator.add_fields(
        'outbox_message',

        message_id=pw.CharField(max_length=120, null=True, unique=True),
        html=pw.TextField(null=True),
        attempts=pw.IntegerField(default=0),
        next_attempt_at=pw.DateTimeField(default=dt.datetime(2000, 1, 1)),
        claim_token=pw.CharField(max_length=32, null=True),
        claimed_until=pw.DateTimeField(null=True),
        last_error=pw.TextField(default=''),
        logged_at=pw.DateTimeField(null=True),
        failed_at=pw.DateTimeField(null=True))

    def give_each_message_an_id():
        outbox = migrator.orm['outbox_message']
        for row_id, key in outbox.select(outbox.id, outbox.dedupe_key).tuples():
            digest = hashlib.sha256(key.encode()).hexdigest()[:40]
            outbox.update(message_id=f"<{digest}@attest.mail>").where(outbox.id == row_id).execute()

    migrator.run(give_each_message_an_id)
    if not fake:  # run what is queued now: add_not_null changes the field object the queued add_column reads
        migrator()
    migrator.add_not_null('outbox_message', 'message_id')

    migrator.add_index('outbox_message', 'sent_at', 'next_attempt_at', unique=False)

    # Users: when an account was deactivated. Applicability: who edited a row by hand, and when.
    migrator.add_fields('user', deactivated_at=pw.DateTimeField(null=True))
    migrator.add_fields(
        'applicability',

        edited_at=pw.DateTimeField(null=True),
        edited_by=pw.ForeignKeyField(column_name='edited_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL'))

    # API tokens get a name. On SQLite a NOT NULL column with a constant default is added in place (peewee's
    # add_fields would rebuild the table); see 002 for why rebuilding tables is avoided.
    if isinstance(getattr(database, "obj", database), pw.SqliteDatabase):
        migrator.sql("""ALTER TABLE "api_token" ADD COLUMN "name" VARCHAR(100) NOT NULL DEFAULT ''""")
        with migrator.fake():
            migrator.add_fields('api_token', name=pw.CharField(default='', max_length=100))
    else:
        migrator.add_fields('api_token', name=pw.CharField(default='', max_length=100))

    @migrator.create_model
    class Invitation(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE')
        token_hash = pw.CharField(max_length=64, unique=True)
        invited_by = pw.ForeignKeyField(column_name='invited_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()
        expires_at = pw.DateTimeField()
        used_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "invitation"
            legacy_table_names = False


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    
    migrator.remove_model('invitation')
    migrator.remove_fields('api_token', 'name')
    migrator.remove_fields('applicability', 'edited_at', 'edited_by')
    migrator.remove_fields('user', 'deactivated_at')

    migrator.remove_fields('outbox_message', 'message_id', 'html', 'attempts', 'next_attempt_at', 'claim_token', 'claimed_until', 'last_error', 'logged_at', 'failed_at')

    migrator.drop_index('outbox_message', 'sent_at', 'next_attempt_at')
