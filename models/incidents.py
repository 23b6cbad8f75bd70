"""Incidents, the regulatory clocks they start, and findings."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .evidence import Evidence
from .org import User
from .register import Engagement, EvidenceRequest

INCIDENT_CATEGORIES = (
    "security_incident",
    "personal_information_breach",
    "control_weakness",
    "operational_disruption",
    "card_data_compromise",
)
INCIDENT_FLAGS = ("material", "personal_information", "card_data", "outside_tolerance", "cannot_remediate_timely",
                  "notified_other_regulator", "soci_significant", "soci_relevant", "ransom_paid")
CLOCK_STATES = ("pending", "running", "met", "breached", "not_required")  # see domain.clocks.TRANSITIONS
FINDING_STATES = ("open", "plan_submitted", "in_progress", "closed", "void")  # see domain.findings.TRANSITIONS


class Incident(BaseModel):
    engagement = pw.ForeignKeyField(Engagement, backref="incidents", on_delete="RESTRICT")
    title = pw.CharField(max_length=200)
    description = pw.TextField(default="")
    category = pw.CharField(max_length=40)
    occurred_at = pw.DateTimeField()
    aware_at = pw.DateTimeField()
    aware_party = pw.CharField(max_length=10)  # client | provider
    material = pw.BooleanField(default=False)
    personal_information = pw.BooleanField(default=False)
    card_data = pw.BooleanField(default=False)
    outside_tolerance = pw.BooleanField(default=False)
    cannot_remediate_timely = pw.BooleanField(default=False)
    notified_other_regulator = pw.BooleanField(default=False)  # CPS 234 para 35(b)
    soci_significant = pw.BooleanField(default=False)  # SOCI s 30BC: significant impact on an asset's availability
    soci_relevant = pw.BooleanField(default=False)  # SOCI s 30BD: relevant impact on an asset
    ransom_paid = pw.BooleanField(default=False)  # Cyber Security Act 2024 s 27: a ransomware payment was made
    outside_tolerance_at = pw.DateTimeField(null=True)  # when a critical operation went outside tolerance
    client_aware_at = pw.DateTimeField(null=True)  # null: the provider's notice to the client is still awaited
    assessment_concluded_at = pw.DateTimeField(null=True)  # NDB assessment (s 26WH)
    assessment_eligible = pw.BooleanField(null=True)
    assessment_summary = pw.TextField(default="")
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)
    voided_at = pw.DateTimeField(null=True)  # recorded by mistake: kept, shown void, its clocks closed
    voided_by_email = pw.CharField(max_length=254, null=True)
    void_reason = pw.TextField(null=True)

    class Meta:
        indexes = ((("engagement", "aware_at"), False),)


class Clock(BaseModel):
    """A deadline started by an incident or by another subject (e.g. a sub-contractor arrangement).

    ``subject_type``/``subject_id`` name what started it (``incident`` and its id for incident clocks);
    a ``pending`` clock waits for its start (the provider's notice to the client) and has no ``started_at``.
    """
    engagement = pw.ForeignKeyField(Engagement, backref="clocks", on_delete="CASCADE")
    incident = pw.ForeignKeyField(Incident, backref="clocks", null=True, on_delete="CASCADE")
    subject_type = pw.CharField(max_length=40)
    subject_id = pw.IntegerField()
    rule_id = pw.CharField(max_length=40)
    party = pw.CharField(max_length=100, default="")  # whom it is owed to when a rule has several (an acquirer)
    started_at = pw.DateTimeField(null=True)
    deadline_at = pw.DateTimeField(null=True)  # null: as soon as practicable, no outer limit
    target_at = pw.DateTimeField(null=True)  # internal target for ASAP obligations
    basis = pw.CharField(max_length=200)
    calendar = pw.CharField(max_length=120, default="")  # calendar and library version used
    note = pw.CharField(max_length=300, default="")  # e.g. the card brands' own expectations
    state = pw.CharField(max_length=20, default="running")
    established_at = pw.DateTimeField(null=True)  # when the fact that started it was established (a later flag)
    reason = pw.TextField(default="")  # why it is not_required (the assessment, or the correction)
    met_at = pw.DateTimeField(null=True)
    notice_evidence = pw.ForeignKeyField(Evidence, null=True, on_delete="SET NULL")
    recorded_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")

    def save(self, *args, **kwargs):
        """An incident's clock belongs to the incident's engagement, with the incident as its subject."""
        if self.incident_id is not None:
            if self.engagement_id is None:
                self.engagement_id = Incident.get_by_id(self.incident_id).engagement_id
            if not self.subject_type:
                self.subject_type, self.subject_id = "incident", self.incident_id
        return super().save(*args, **kwargs)

    class Meta:
        indexes = ((("incident", "rule_id", "party"), True),
                   (("engagement", "subject_type", "subject_id", "rule_id", "party"), True),
                   (("state", "deadline_at"), False))


FINDING_SOURCES = ("request", "clock", "incident", "auditor", "governance", "rejection", "manual", "kpi")
FINDING_SEVERITIES = ("low", "medium", "high", "critical")


class Finding(BaseModel):
    engagement = pw.ForeignKeyField(Engagement, backref="findings", on_delete="RESTRICT")
    source = pw.CharField(max_length=20)  # FINDING_SOURCES
    severity = pw.CharField(max_length=10, default="medium")
    request = pw.ForeignKeyField(EvidenceRequest, null=True, on_delete="SET NULL")
    incident = pw.ForeignKeyField(Incident, null=True, on_delete="SET NULL")
    clock = pw.ForeignKeyField(Clock, null=True, on_delete="SET NULL")
    key = pw.CharField(max_length=120, null=True, unique=True)  # raised automatically once per occasion
    title = pw.CharField(max_length=200)
    description = pw.TextField(default="")
    owner = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="owned_findings")
    due_date = pw.DateField(null=True)
    action_plan = pw.TextField(default="")
    status = pw.CharField(max_length=20, default="open")  # FINDING_STATES ("plan_submitted" needs 14)
    raised_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="raised_findings")
    created_at = pw.DateTimeField(default=utcnow)
    closed_at = pw.DateTimeField(null=True)
    closure_evidence = pw.ForeignKeyField(Evidence, null=True, on_delete="SET NULL")
    closure_note = pw.TextField(default="")

    class Meta:
        indexes = ((("engagement", "status", "due_date"), False), (("status", "due_date"), False))


ARRANGEMENT_KINDS = ("entered", "material_change")


class Arrangement(BaseModel):
    """The client entering, or materially changing, its own agreement with the provider (CPS 230 para 59(a));
    an offshore one needs APRA told before it (para 59(b))."""
    engagement = pw.ForeignKeyField(Engagement, backref="arrangements", on_delete="RESTRICT")
    kind = pw.CharField(max_length=20)  # ARRANGEMENT_KINDS
    agreement_date = pw.DateField()
    offshore = pw.BooleanField(default=False)
    apra_notified_on = pw.DateField(null=True)
    description = pw.TextField(default="")
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("engagement", "agreement_date"), False),)


CHANGE_KINDS = ("significant_change", "new_subcontractor", "offshoring")


class ChangeEvent(BaseModel):
    """A change at the provider that triggers event-driven testing (SPEC §2 Change event)."""
    engagement = pw.ForeignKeyField(Engagement, backref="changes", on_delete="RESTRICT")
    title = pw.CharField(max_length=200)
    kind = pw.CharField(max_length=30)
    occurred_at = pw.DateTimeField()
    description = pw.TextField(default="")
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)
    voided_at = pw.DateTimeField(null=True)  # recorded by mistake: kept, shown void, its open requests retired
    voided_by_email = pw.CharField(max_length=254, null=True)
    void_reason = pw.TextField(null=True)

    class Meta:
        indexes = ((("engagement", "occurred_at"), False),)


class ChangeEventRequest(BaseModel):
    """The event-driven evidence requests a change event opened."""
    change = pw.ForeignKeyField(ChangeEvent, backref="links", on_delete="CASCADE")
    request = pw.ForeignKeyField(EvidenceRequest, on_delete="CASCADE")

    class Meta:
        indexes = ((("change", "request"), True),)
