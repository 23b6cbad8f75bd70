"""Peewee migrations -- 006_incidents_clocks_findings_notifications.py.

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


def _add_in_place(migrator: Migrator, database: pw.Database, table: str, **columns):
    """NOT NULL columns with a constant default, added in place. peewee's add_fields would rebuild the
    table on SQLite (DROP TABLE, which with foreign keys on cascades to or fails on every referencing row:
    see 002). ``columns``: name -> (field, SQLite column definition)."""
    if isinstance(getattr(database, "obj", database), pw.SqliteDatabase):
        for name, (_, ddl) in columns.items():
            column = columns[name][0].column_name or name
            migrator.sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {ddl}')
        with migrator.fake():
            migrator.add_fields(table, **{name: field for name, (field, _) in columns.items()})
    else:
        migrator.add_fields(table, **{name: field for name, (field, _) in columns.items()})


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""
    
    _add_in_place(
        migrator, database, 'engagement',
        pci_acquirer_hours=(pw.IntegerField(default=24), "INTEGER NOT NULL DEFAULT 24"),
        provider_awareness_is_client=(pw.BooleanField(default=False), "INTEGER NOT NULL DEFAULT 0"))

    _add_in_place(migrator, database, 'control',
                  triggers=(pw.CharField(default='', max_length=200), "VARCHAR(200) NOT NULL DEFAULT ''"))

    _add_in_place(migrator, database, 'incident',
                  notified_other_regulator=(pw.BooleanField(default=False), "INTEGER NOT NULL DEFAULT 0"),
                  assessment_summary=(pw.TextField(default=''), "TEXT NOT NULL DEFAULT ''"))

    migrator.add_fields(
        'incident',

        outside_tolerance_at=pw.DateTimeField(null=True),
        client_aware_at=pw.DateTimeField(null=True),
        assessment_concluded_at=pw.DateTimeField(null=True),
        assessment_eligible=pw.BooleanField(null=True))

    # Clocks gain their engagement and subject (filled from the incident), and may be pending (no start) or
    # belong to another subject than an incident. SQLite: one explicit rebuild (nothing references clock yet);
    # PostgreSQL: in place.
    if isinstance(getattr(database, "obj", database), pw.SqliteDatabase):
        for statement in SQLITE_CLOCK_REBUILD:
            migrator.sql(statement)
        with migrator.fake():
            _clock_changes(migrator)
    else:
        _clock_changes(migrator)

    migrator.add_index('clock', 'engagement', 'subject_type', 'subject_id', 'rule_id', unique=True)

    _add_in_place(migrator, database, 'clock_rule',
                  note=(pw.CharField(default='', max_length=300), "VARCHAR(300) NOT NULL DEFAULT ''"))

    _add_in_place(migrator, database, 'finding',
                  severity=(pw.CharField(default='medium', max_length=10), "VARCHAR(10) NOT NULL DEFAULT 'medium'"),
                  closure_note=(pw.TextField(default=''), "TEXT NOT NULL DEFAULT ''"))

    migrator.add_fields(
        'finding',

        clock=pw.ForeignKeyField(column_name='clock_id', field='id', model=migrator.orm['clock'], null=True, on_delete='SET NULL'),
        key=pw.CharField(max_length=120, null=True, unique=True),
        closure_evidence=pw.ForeignKeyField(column_name='closure_evidence_id', field='id', model=migrator.orm['evidence'], null=True, on_delete='SET NULL'))

    migrator.add_index('finding', 'status', 'due_date', unique=False)

    # "plan_submitted" is longer than the 12 characters 001 allowed. SQLite does not enforce VARCHAR lengths
    # (and would rebuild the table): record the change only; PostgreSQL widens the column in place.
    if isinstance(getattr(database, "obj", database), pw.SqliteDatabase):
        with migrator.fake():
            migrator.change_fields('finding', status=pw.CharField(default='open', max_length=20))
    else:
        migrator.change_fields('finding', status=pw.CharField(default='open', max_length=20))

    migrator.add_index('evidence', 'status', 'valid_until', unique=False)

    migrator.add_index('evidence', 'status', 'reviewed_at', unique=False)

    @migrator.create_model
    class ChangeEvent(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='RESTRICT')
        title = pw.CharField(max_length=200)
        kind = pw.CharField(max_length=30)
        occurred_at = pw.DateTimeField()
        description = pw.TextField(default='')
        created_by = pw.ForeignKeyField(column_name='created_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "change_event"
            legacy_table_names = False
            indexes = [(('engagement', 'occurred_at'), False)]

    @migrator.create_model
    class ChangeEventRequest(pw.Model):
        id = pw.AutoField()
        change = pw.ForeignKeyField(column_name='change_id', field='id', model=migrator.orm['change_event'], on_delete='CASCADE')
        request = pw.ForeignKeyField(column_name='request_id', field='id', model=migrator.orm['evidence_request'], on_delete='CASCADE')

        class Meta:
            table_name = "change_event_request"
            legacy_table_names = False
            indexes = [(('change', 'request'), True)]

    @migrator.create_model
    class Notification(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE')
        kind = pw.CharField(max_length=30)
        object_type = pw.CharField(max_length=30)
        object_id = pw.IntegerField()
        occasion = pw.CharField(max_length=60)
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], null=True, on_delete='CASCADE')
        title = pw.CharField(max_length=300)
        body = pw.TextField(default='')
        link = pw.CharField(default='', max_length=300)
        created_at = pw.DateTimeField()
        read_at = pw.DateTimeField(null=True)
        emailed = pw.BooleanField(default=False)

        class Meta:
            table_name = "notification"
            legacy_table_names = False
            indexes = [(('user', 'kind', 'object_type', 'object_id', 'occasion'), True), (('user', 'read_at', 'created_at'), False), (('emailed', 'created_at'), False)]

    @migrator.create_model
    class NotificationSetting(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE', unique=True)
        mode = pw.CharField(default='immediate', max_length=10)

        class Meta:
            table_name = "notification_setting"
            legacy_table_names = False

    @migrator.create_model
    class SchedulerCursor(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=40, unique=True)
        at = pw.DateTimeField()

        class Meta:
            table_name = "scheduler_cursor"
            legacy_table_names = False


def _clock_changes(migrator: Migrator) -> None:
    migrator.add_fields(
        'clock',

        engagement=pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], null=True, on_delete='CASCADE'),
        subject_type=pw.CharField(max_length=40, default='incident'),
        subject_id=pw.IntegerField(null=True),
        note=pw.CharField(default='', max_length=300))

    migrator.sql('UPDATE clock SET subject_id = incident_id, '
                 'engagement_id = (SELECT incident.engagement_id FROM incident WHERE incident.id = clock.incident_id)')

    # new field objects (add_not_null would also change the ones queued above, before they are added)
    migrator.change_fields(
        'clock',
        engagement=pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE'),
        subject_id=pw.IntegerField())

    migrator.change_fields('clock', incident=pw.ForeignKeyField(column_name='incident_id', field='id', model=migrator.orm['incident'], null=True, on_delete='CASCADE'))

    migrator.drop_not_null('clock', 'incident')

    migrator.change_fields('clock', started_at=pw.DateTimeField(null=True))

    migrator.drop_not_null('clock', 'started_at')

    migrator.change_fields('clock', basis=pw.CharField(max_length=200))



SQLITE_CLOCK_REBUILD = (
    '''CREATE TABLE "clock__new" ("id" INTEGER NOT NULL PRIMARY KEY, "incident_id" INTEGER, "rule_id" VARCHAR(40) NOT NULL,
    "started_at" DATETIME, "deadline_at" DATETIME, "target_at" DATETIME, "basis" VARCHAR(200) NOT NULL,
    "calendar" VARCHAR(120) NOT NULL, "state" VARCHAR(10) NOT NULL, "met_at" DATETIME, "notice_evidence_id" INTEGER,
    "recorded_by_id" INTEGER, "engagement_id" INTEGER NOT NULL, "subject_type" VARCHAR(40) NOT NULL,
    "subject_id" INTEGER NOT NULL, "note" VARCHAR(300) NOT NULL DEFAULT '',
    FOREIGN KEY ("incident_id") REFERENCES "incident" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("notice_evidence_id") REFERENCES "evidence" ("id") ON DELETE SET NULL,
    FOREIGN KEY ("recorded_by_id") REFERENCES "user" ("id") ON DELETE SET NULL,
    FOREIGN KEY ("engagement_id") REFERENCES "engagement" ("id") ON DELETE CASCADE)''',
    '''INSERT INTO "clock__new" ("id", "incident_id", "rule_id", "started_at", "deadline_at", "target_at", "basis",
    "calendar", "state", "met_at", "notice_evidence_id", "recorded_by_id", "engagement_id", "subject_type", "subject_id")
    SELECT c."id", c."incident_id", c."rule_id", c."started_at", c."deadline_at", c."target_at", c."basis", c."calendar",
    c."state", c."met_at", c."notice_evidence_id", c."recorded_by_id", i."engagement_id", 'incident', c."incident_id"
    FROM "clock" c JOIN "incident" i ON i."id" = c."incident_id"''',
    'DROP TABLE "clock"',
    'ALTER TABLE "clock__new" RENAME TO "clock"',
    'CREATE INDEX "clock_incident_id" ON "clock" ("incident_id")',
    'CREATE INDEX "clock_notice_evidence_id" ON "clock" ("notice_evidence_id")',
    'CREATE INDEX "clock_recorded_by_id" ON "clock" ("recorded_by_id")',
    'CREATE UNIQUE INDEX "clock_incident_id_rule_id" ON "clock" ("incident_id", "rule_id")',
    'CREATE INDEX "clock_state_deadline_at" ON "clock" ("state", "deadline_at")',
    'CREATE INDEX "clock_engagement_id" ON "clock" ("engagement_id")',
)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    
    migrator.remove_fields('finding', 'severity', 'clock', 'key', 'closure_evidence', 'closure_note')

    migrator.drop_index('finding', 'status', 'due_date')

    migrator.drop_index('evidence', 'status', 'valid_until')

    migrator.drop_index('evidence', 'status', 'reviewed_at')

    migrator.remove_fields('clock_rule', 'note')

    migrator.remove_fields('clock', 'engagement', 'subject_type', 'subject_id', 'note')

    migrator.change_fields('clock', incident=pw.ForeignKeyField(column_name='incident_id', field='id', model=migrator.orm['incident'], on_delete='CASCADE'))

    migrator.add_not_null('clock', 'incident')

    migrator.change_fields('clock', started_at=pw.DateTimeField())

    migrator.add_not_null('clock', 'started_at')

    migrator.change_fields('clock', basis=pw.CharField(max_length=120))

    migrator.drop_index('clock', 'engagement', 'subject_type', 'subject_id', 'rule_id')

    migrator.remove_fields('incident', 'notified_other_regulator', 'outside_tolerance_at', 'client_aware_at', 'assessment_concluded_at', 'assessment_eligible', 'assessment_summary')

    migrator.remove_fields('control', 'triggers')

    migrator.remove_fields('engagement', 'pci_acquirer_hours', 'provider_awareness_is_client')

    migrator.remove_model('scheduler_cursor')

    migrator.remove_model('notification_setting')

    migrator.remove_model('notification')

    migrator.remove_model('change_event_request')

    migrator.remove_model('change_event')
