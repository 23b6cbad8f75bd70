"""The control library: frameworks, obligations, controls, mappings, evidence requirements, clock rules.

Loaded from ``controls/*.yaml`` by ``flask load-controls``. Rows are never deleted:
an item dropped from the library is marked ``retired_in`` so history (requests,
evidence, applicability) keeps pointing at it.
"""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow


class LibraryVersion(BaseModel):
    number = pw.IntegerField(unique=True)
    digest = pw.CharField(max_length=64)  # sha256 over the library files
    loaded_at = pw.DateTimeField(default=utcnow)
    summary = pw.TextField(default="{}")  # JSON: counts added/changed/retired


class Framework(BaseModel):
    code = pw.CharField(max_length=40, unique=True)
    title = pw.CharField(max_length=200)
    version = pw.CharField(max_length=40)
    description = pw.TextField(default="")
    requires = pw.CharField(max_length=20, default="")  # the engagement setting it applies under ('' = always)
    introduced_in = pw.IntegerField(default=1)
    changed_in = pw.IntegerField(default=1)
    retired_in = pw.IntegerField(null=True)


class Obligation(BaseModel):
    framework = pw.ForeignKeyField(Framework, backref="obligations", on_delete="RESTRICT")
    ref = pw.CharField(max_length=40)
    title = pw.CharField(max_length=300)
    parent_ref = pw.CharField(max_length=40, null=True)
    alt_ref = pw.CharField(max_length=40, null=True)  # e.g. CPS 230 2026 paragraph number
    # How far alt_ref is confirmed (verified | secondary | unverified): shown as a number only when verified.
    alt_ref_verification = pw.CharField(max_length=12, null=True)
    frequency = pw.CharField(max_length=100, default="")
    provable = pw.BooleanField(default=True)  # can evidence prove it? (false needs a reason)
    note = pw.TextField(default="")
    verification = pw.CharField(max_length=12, default="")  # verified | secondary | unverified
    sort_key = pw.CharField(max_length=80, default="")
    introduced_in = pw.IntegerField(default=1)
    changed_in = pw.IntegerField(default=1)
    retired_in = pw.IntegerField(null=True)

    class Meta:
        indexes = ((("framework", "ref"), True),)


class Control(BaseModel):
    code = pw.CharField(max_length=20, unique=True)
    title = pw.CharField(max_length=200)
    description = pw.TextField(default="")
    domain = pw.CharField(max_length=60, default="")
    frequency = pw.CharField(max_length=200)  # ISO 8601 duration, RRULE, or "event"
    requires = pw.CharField(max_length=40, default="")  # "" | card_payments | offshore
    triggers = pw.CharField(max_length=200, default="")  # change kinds that also trigger it, comma-separated
    introduced_in = pw.IntegerField(default=1)
    changed_in = pw.IntegerField(default=1)
    retired_in = pw.IntegerField(null=True)


class ControlObligation(BaseModel):
    control = pw.ForeignKeyField(Control, backref="mappings", on_delete="CASCADE")
    obligation = pw.ForeignKeyField(Obligation, backref="mappings", on_delete="CASCADE")
    coverage = pw.CharField(max_length=10, choices=[("full", "full"), ("partial", "partial")])
    note = pw.CharField(max_length=300, default="")  # full: its reviewed reason (REVIEW.md); partial: what it lacks
    retired_in = pw.IntegerField(null=True)

    class Meta:
        indexes = ((("control", "obligation"), True),)


class EvidenceRequirement(BaseModel):
    control = pw.ForeignKeyField(Control, backref="requirements", on_delete="CASCADE")
    key = pw.CharField(max_length=60)
    name = pw.CharField(max_length=200)
    accepted_types = pw.TextField()  # JSON list of media types
    validity_days = pw.IntegerField()
    produced_by = pw.CharField(max_length=10, default="provider")  # provider | client (SPEC §2): who uploads it
    retired_in = pw.IntegerField(null=True)

    class Meta:
        indexes = ((("control", "key"), True),)


class ClockRule(BaseModel):
    rule_id = pw.CharField(max_length=40, unique=True)
    title = pw.CharField(max_length=200)
    framework_code = pw.CharField(max_length=40)
    obligation_ref = pw.CharField(max_length=40)
    trigger = pw.TextField()  # JSON: {"categories": [...], "flags": [...], "requires": ...}
    start_field = pw.CharField(max_length=20, default="aware_at")
    duration = pw.IntegerField(null=True)  # null for "as soon as practicable"
    unit = pw.CharField(max_length=20)  # hours | business_days | calendar_days | asap
    internal_target_hours = pw.IntegerField(null=True)
    notify = pw.CharField(max_length=100)
    note = pw.CharField(max_length=300, default="")
    verification = pw.CharField(max_length=12, default="")
    calendar = pw.CharField(max_length=20, default="")  # business_days rules: place | head_office | intersection | ''
    retired_in = pw.IntegerField(null=True)
