"""Peewee migrations -- 001_initial.py.

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
    
    @migrator.create_model
    class Organisation(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=200, unique=True)
        kind = pw.CharField(max_length=20)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "organisation"
            legacy_table_names = False

    @migrator.create_model
    class User(pw.Model):
        id = pw.AutoField()
        email = pw.CharField(max_length=254, unique=True)
        password_hash = pw.CharField(max_length=255)
        role = pw.CharField(max_length=32)
        organisation = pw.ForeignKeyField(column_name='organisation_id', field='id', model=migrator.orm['organisation'], on_delete='RESTRICT')
        full_name = pw.CharField(default='', max_length=200)
        active = pw.BooleanField(default=True)
        created_at = pw.DateTimeField()
        last_login_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "user"
            legacy_table_names = False

    @migrator.create_model
    class ApiToken(pw.Model):
        id = pw.AutoField()
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE')
        token_hash = pw.CharField(max_length=64, unique=True)
        prefix = pw.CharField(max_length=12)
        created_at = pw.DateTimeField()
        last_used_at = pw.DateTimeField(null=True)
        revoked_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "api_token"
            legacy_table_names = False

    @migrator.create_model
    class Engagement(pw.Model):
        id = pw.AutoField()
        client = pw.ForeignKeyField(column_name='client_id', field='id', model=migrator.orm['organisation'], on_delete='RESTRICT')
        provider = pw.ForeignKeyField(column_name='provider_id', field='id', model=migrator.orm['organisation'], on_delete='RESTRICT')
        name = pw.CharField(max_length=200)
        contract_ref = pw.CharField(default='', max_length=100)
        start_date = pw.DateField()
        end_date = pw.DateField(null=True)
        place = pw.CharField(max_length=20)
        timezone = pw.CharField(default='Australia/Sydney', max_length=64)
        card_payments = pw.BooleanField(default=False)
        offshore = pw.BooleanField(default=False)
        contract_notice_hours = pw.IntegerField(default=24)
        grace_days = pw.IntegerField(default=5)
        created_by = pw.ForeignKeyField(column_name='created_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "engagement"
            legacy_table_names = False
            indexes = [(('client', 'name'), True)]

    @migrator.create_model
    class Control(pw.Model):
        id = pw.AutoField()
        code = pw.CharField(max_length=20, unique=True)
        title = pw.CharField(max_length=200)
        description = pw.TextField(default='')
        domain = pw.CharField(default='', max_length=60)
        frequency = pw.CharField(max_length=200)
        requires = pw.CharField(default='', max_length=40)
        introduced_in = pw.IntegerField(default=1)
        changed_in = pw.IntegerField(default=1)
        retired_in = pw.IntegerField(null=True)

        class Meta:
            table_name = "control"
            legacy_table_names = False

    @migrator.create_model
    class Applicability(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        control = pw.ForeignKeyField(column_name='control_id', field='id', model=migrator.orm['control'], on_delete='RESTRICT')
        applicable = pw.BooleanField()
        justification = pw.TextField()
        owner = pw.ForeignKeyField(column_name='owner_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        frequency_override = pw.CharField(max_length=200, null=True)
        first_due_date = pw.DateField(null=True)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "applicability"
            legacy_table_names = False
            indexes = [(('engagement', 'control'), True)]

    @migrator.create_model
    class AuditEvent(pw.Model):
        id = pw.AutoField()
        at = pw.DateTimeField(index=True)
        actor = pw.ForeignKeyField(column_name='actor_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        actor_email = pw.CharField(default='', max_length=254)
        action = pw.CharField(max_length=40)
        object_type = pw.CharField(default='', max_length=40)
        object_id = pw.CharField(default='', max_length=40)
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], null=True, on_delete='RESTRICT')
        ip = pw.CharField(default='', max_length=64)
        details = pw.TextField(default='{}')
        prev_hash = pw.CharField(max_length=64, unique=True)
        hash = pw.CharField(max_length=64, unique=True)

        class Meta:
            table_name = "audit_event"
            legacy_table_names = False
            indexes = [(('engagement', 'at'), False), (('action', 'at'), False)]

    @migrator.create_model
    class AuditorGrant(pw.Model):
        id = pw.AutoField()
        auditor = pw.ForeignKeyField(column_name='auditor_id', field='id', model=migrator.orm['user'], on_delete='RESTRICT')
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='RESTRICT')
        frameworks = pw.TextField()
        starts_at = pw.DateTimeField()
        expires_at = pw.DateTimeField()
        granted_by = pw.ForeignKeyField(column_name='granted_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()
        revoked_at = pw.DateTimeField(null=True)
        revoked_by = pw.ForeignKeyField(column_name='revoked_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')

        class Meta:
            table_name = "auditor_grant"
            legacy_table_names = False
            indexes = [(('auditor', 'engagement'), False)]

    @migrator.create_model
    class Incident(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='RESTRICT')
        title = pw.CharField(max_length=200)
        description = pw.TextField(default='')
        category = pw.CharField(max_length=40)
        occurred_at = pw.DateTimeField()
        aware_at = pw.DateTimeField()
        aware_party = pw.CharField(max_length=10)
        material = pw.BooleanField(default=False)
        personal_information = pw.BooleanField(default=False)
        card_data = pw.BooleanField(default=False)
        outside_tolerance = pw.BooleanField(default=False)
        cannot_remediate_timely = pw.BooleanField(default=False)
        created_by = pw.ForeignKeyField(column_name='created_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "incident"
            legacy_table_names = False
            indexes = [(('engagement', 'aware_at'), False)]

    @migrator.create_model
    class EvidenceRequirement(pw.Model):
        id = pw.AutoField()
        control = pw.ForeignKeyField(column_name='control_id', field='id', model=migrator.orm['control'], on_delete='CASCADE')
        key = pw.CharField(max_length=60)
        name = pw.CharField(max_length=200)
        accepted_types = pw.TextField()
        validity_days = pw.IntegerField()
        retired_in = pw.IntegerField(null=True)

        class Meta:
            table_name = "evidence_requirement"
            legacy_table_names = False
            indexes = [(('control', 'key'), True)]

    @migrator.create_model
    class EvidenceRequest(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        control = pw.ForeignKeyField(column_name='control_id', field='id', model=migrator.orm['control'], on_delete='RESTRICT')
        requirement = pw.ForeignKeyField(column_name='requirement_id', field='id', model=migrator.orm['evidence_requirement'], on_delete='RESTRICT')
        period_start = pw.DateField()
        period_end = pw.DateField()
        due_at = pw.DateTimeField()
        status = pw.CharField(default='upcoming', max_length=12)
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "evidence_request"
            legacy_table_names = False
            indexes = [(('engagement', 'requirement', 'period_start'), True), (('engagement', 'status', 'due_at'), False), (('engagement', 'due_at'), False), (('status', 'due_at'), False), (('engagement', 'control'), False)]

    @migrator.create_model
    class Evidence(pw.Model):
        id = pw.AutoField()
        request = pw.ForeignKeyField(column_name='request_id', field='id', model=migrator.orm['evidence_request'], on_delete='RESTRICT')
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='RESTRICT')
        sha256 = pw.CharField(index=True, max_length=64)
        original_filename = pw.CharField(max_length=255)
        media_type = pw.CharField(max_length=120)
        size = pw.BigIntegerField()
        effective_date = pw.DateField()
        valid_until = pw.DateField(null=True)
        note = pw.TextField(default='')
        version = pw.IntegerField(default=1)
        status = pw.CharField(default='submitted', max_length=12)
        uploaded_by = pw.ForeignKeyField(column_name='uploaded_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        uploaded_at = pw.DateTimeField()
        reviewed_by = pw.ForeignKeyField(column_name='reviewed_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        reviewed_at = pw.DateTimeField(null=True)
        review_comment = pw.TextField(default='')
        withdrawn_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "evidence"
            legacy_table_names = False
            indexes = [(('request', 'version'), True), (('engagement', 'status', 'uploaded_at'), False)]

    @migrator.create_model
    class Clock(pw.Model):
        id = pw.AutoField()
        incident = pw.ForeignKeyField(column_name='incident_id', field='id', model=migrator.orm['incident'], on_delete='CASCADE')
        rule_id = pw.CharField(max_length=40)
        started_at = pw.DateTimeField()
        deadline_at = pw.DateTimeField(null=True)
        target_at = pw.DateTimeField(null=True)
        basis = pw.CharField(max_length=120)
        calendar = pw.CharField(default='', max_length=120)
        state = pw.CharField(default='running', max_length=10)
        met_at = pw.DateTimeField(null=True)
        notice_evidence = pw.ForeignKeyField(column_name='notice_evidence_id', field='id', model=migrator.orm['evidence'], null=True, on_delete='SET NULL')
        recorded_by = pw.ForeignKeyField(column_name='recorded_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')

        class Meta:
            table_name = "clock"
            legacy_table_names = False
            indexes = [(('incident', 'rule_id'), True), (('state', 'deadline_at'), False)]

    @migrator.create_model
    class ClockRule(pw.Model):
        id = pw.AutoField()
        rule_id = pw.CharField(max_length=40, unique=True)
        title = pw.CharField(max_length=200)
        framework_code = pw.CharField(max_length=40)
        obligation_ref = pw.CharField(max_length=40)
        trigger = pw.TextField()
        start_field = pw.CharField(default='aware_at', max_length=20)
        duration = pw.IntegerField(null=True)
        unit = pw.CharField(max_length=20)
        internal_target_hours = pw.IntegerField(null=True)
        notify = pw.CharField(max_length=100)
        verification = pw.CharField(default='', max_length=12)
        retired_in = pw.IntegerField(null=True)

        class Meta:
            table_name = "clock_rule"
            legacy_table_names = False

    @migrator.create_model
    class Framework(pw.Model):
        id = pw.AutoField()
        code = pw.CharField(max_length=40, unique=True)
        title = pw.CharField(max_length=200)
        version = pw.CharField(max_length=40)
        description = pw.TextField(default='')
        introduced_in = pw.IntegerField(default=1)
        changed_in = pw.IntegerField(default=1)
        retired_in = pw.IntegerField(null=True)

        class Meta:
            table_name = "framework"
            legacy_table_names = False

    @migrator.create_model
    class Obligation(pw.Model):
        id = pw.AutoField()
        framework = pw.ForeignKeyField(column_name='framework_id', field='id', model=migrator.orm['framework'], on_delete='RESTRICT')
        ref = pw.CharField(max_length=40)
        title = pw.CharField(max_length=300)
        parent_ref = pw.CharField(max_length=40, null=True)
        alt_ref = pw.CharField(max_length=40, null=True)
        frequency = pw.CharField(default='', max_length=100)
        provable = pw.BooleanField(default=True)
        note = pw.TextField(default='')
        verification = pw.CharField(default='', max_length=12)
        sort_key = pw.CharField(default='', max_length=80)
        introduced_in = pw.IntegerField(default=1)
        changed_in = pw.IntegerField(default=1)
        retired_in = pw.IntegerField(null=True)

        class Meta:
            table_name = "obligation"
            legacy_table_names = False
            indexes = [(('framework', 'ref'), True)]

    @migrator.create_model
    class ControlObligation(pw.Model):
        id = pw.AutoField()
        control = pw.ForeignKeyField(column_name='control_id', field='id', model=migrator.orm['control'], on_delete='CASCADE')
        obligation = pw.ForeignKeyField(column_name='obligation_id', field='id', model=migrator.orm['obligation'], on_delete='CASCADE')
        coverage = pw.CharField(max_length=10)
        retired_in = pw.IntegerField(null=True)

        class Meta:
            table_name = "control_obligation"
            legacy_table_names = False
            indexes = [(('control', 'obligation'), True)]

    @migrator.create_model
    class EngagementFramework(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='CASCADE')
        framework = pw.ForeignKeyField(column_name='framework_id', field='id', model=migrator.orm['framework'], on_delete='RESTRICT')

        class Meta:
            table_name = "engagement_framework"
            legacy_table_names = False
            indexes = [(('engagement', 'framework'), True)]

    @migrator.create_model
    class Finding(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='RESTRICT')
        source = pw.CharField(max_length=20)
        request = pw.ForeignKeyField(column_name='request_id', field='id', model=migrator.orm['evidence_request'], null=True, on_delete='SET NULL')
        incident = pw.ForeignKeyField(column_name='incident_id', field='id', model=migrator.orm['incident'], null=True, on_delete='SET NULL')
        title = pw.CharField(max_length=200)
        description = pw.TextField(default='')
        owner = pw.ForeignKeyField(column_name='owner_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        due_date = pw.DateField(null=True)
        action_plan = pw.TextField(default='')
        status = pw.CharField(default='open', max_length=12)
        raised_by = pw.ForeignKeyField(column_name='raised_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()
        closed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "finding"
            legacy_table_names = False
            indexes = [(('engagement', 'status', 'due_date'), False)]

    @migrator.create_model
    class HolidayOverride(pw.Model):
        id = pw.AutoField()
        place = pw.CharField(max_length=20)
        date = pw.DateField()
        is_holiday = pw.BooleanField()
        name = pw.CharField(default='', max_length=200)

        class Meta:
            table_name = "holiday_override"
            legacy_table_names = False
            indexes = [(('place', 'date'), True)]

    @migrator.create_model
    class LibraryVersion(pw.Model):
        id = pw.AutoField()
        number = pw.IntegerField(unique=True)
        digest = pw.CharField(max_length=64)
        loaded_at = pw.DateTimeField()
        summary = pw.TextField(default='{}')

        class Meta:
            table_name = "library_version"
            legacy_table_names = False

    @migrator.create_model
    class LoginAttempt(pw.Model):
        id = pw.AutoField()
        email = pw.CharField(index=True, max_length=254)
        ip = pw.CharField(default='', max_length=64)
        at = pw.DateTimeField()
        success = pw.BooleanField(default=False)

        class Meta:
            table_name = "login_attempt"
            legacy_table_names = False
            indexes = [(('email', 'at'), False), (('ip', 'at'), False)]

    @migrator.create_model
    class OutboxMessage(pw.Model):
        id = pw.AutoField()
        dedupe_key = pw.CharField(max_length=200, unique=True)
        to = pw.CharField(max_length=254)
        subject = pw.CharField(max_length=300)
        body = pw.TextField()
        created_at = pw.DateTimeField()
        sent_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "outbox_message"
            legacy_table_names = False

    @migrator.create_model
    class Pack(pw.Model):
        id = pw.AutoField()
        engagement = pw.ForeignKeyField(column_name='engagement_id', field='id', model=migrator.orm['engagement'], on_delete='RESTRICT')
        frameworks = pw.TextField()
        period_start = pw.DateField()
        period_end = pw.DateField()
        status = pw.CharField(default='queued', max_length=10)
        progress = pw.IntegerField(default=0)
        file_sha256 = pw.CharField(max_length=64, null=True)
        error = pw.TextField(default='')
        requested_by = pw.ForeignKeyField(column_name='requested_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        created_at = pw.DateTimeField()
        finished_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "pack"
            legacy_table_names = False

    @migrator.create_model
    class SchedulerLease(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=40, unique=True)
        holder = pw.CharField(max_length=120)
        expires_at = pw.DateTimeField()

        class Meta:
            table_name = "scheduler_lease"
            legacy_table_names = False


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    
    migrator.remove_model('scheduler_lease')

    migrator.remove_model('pack')

    migrator.remove_model('outbox_message')

    migrator.remove_model('login_attempt')

    migrator.remove_model('library_version')

    migrator.remove_model('holiday_override')

    migrator.remove_model('finding')

    migrator.remove_model('engagement_framework')

    migrator.remove_model('control_obligation')

    migrator.remove_model('obligation')

    migrator.remove_model('framework')

    migrator.remove_model('clock_rule')

    migrator.remove_model('clock')

    migrator.remove_model('evidence')

    migrator.remove_model('evidence_request')

    migrator.remove_model('evidence_requirement')

    migrator.remove_model('incident')

    migrator.remove_model('auditor_grant')

    migrator.remove_model('audit_event')

    migrator.remove_model('applicability')

    migrator.remove_model('control')

    migrator.remove_model('engagement')

    migrator.remove_model('api_token')

    migrator.remove_model('user')

    migrator.remove_model('organisation')
