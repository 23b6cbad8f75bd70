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
INCIDENT_FLAGS = ("material", "personal_information", "card_data", "outside_tolerance", "cannot_remediate_timely")
CLOCK_STATES = ("running", "met", "breached")
FINDING_STATES = ("open", "in_progress", "closed")


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
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("engagement", "aware_at"), False),)


class Clock(BaseModel):
    incident = pw.ForeignKeyField(Incident, backref="clocks", on_delete="CASCADE")
    rule_id = pw.CharField(max_length=40)
    started_at = pw.DateTimeField()
    deadline_at = pw.DateTimeField(null=True)  # null: as soon as practicable, no outer limit
    target_at = pw.DateTimeField(null=True)  # internal target for ASAP obligations
    basis = pw.CharField(max_length=120)
    calendar = pw.CharField(max_length=120, default="")  # calendar and library version used
    state = pw.CharField(max_length=10, default="running")
    met_at = pw.DateTimeField(null=True)
    notice_evidence = pw.ForeignKeyField(Evidence, null=True, on_delete="SET NULL")
    recorded_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("incident", "rule_id"), True), (("state", "deadline_at"), False))


class Finding(BaseModel):
    engagement = pw.ForeignKeyField(Engagement, backref="findings", on_delete="RESTRICT")
    source = pw.CharField(max_length=20)  # request | incident | auditor
    request = pw.ForeignKeyField(EvidenceRequest, null=True, on_delete="SET NULL")
    incident = pw.ForeignKeyField(Incident, null=True, on_delete="SET NULL")
    title = pw.CharField(max_length=200)
    description = pw.TextField(default="")
    owner = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="owned_findings")
    due_date = pw.DateField(null=True)
    action_plan = pw.TextField(default="")
    status = pw.CharField(max_length=12, default="open")
    raised_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="raised_findings")
    created_at = pw.DateTimeField(default=utcnow)
    closed_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("engagement", "status", "due_date"), False),)
