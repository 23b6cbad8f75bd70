"""Engagements, their scope, the Statement of Applicability and evidence requests."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .library import Control, EvidenceRequirement, Framework
from .org import Organisation, User

# "retired": a future request that a re-planned schedule no longer needs (kept, never deleted).
REQUEST_STATES = ("upcoming", "open", "submitted", "accepted", "rejected", "overdue", "retired")


class Engagement(BaseModel):
    client = pw.ForeignKeyField(Organisation, backref="client_engagements", on_delete="RESTRICT")
    provider = pw.ForeignKeyField(Organisation, backref="provider_engagements", on_delete="RESTRICT")
    name = pw.CharField(max_length=200)
    contract_ref = pw.CharField(max_length=100, default="")
    start_date = pw.DateField()
    end_date = pw.DateField(null=True)
    place = pw.CharField(max_length=20)  # AU state/territory for business days
    timezone = pw.CharField(max_length=64, default="Australia/Sydney")
    card_payments = pw.BooleanField(default=False)
    offshore = pw.BooleanField(default=False)
    contract_notice_hours = pw.IntegerField(default=24)
    pci_acquirer_hours = pw.IntegerField(default=24)  # the acquirer's notice period (PCI-BRAND)
    provider_awareness_is_client = pw.BooleanField(default=False)  # regulatory clocks start at aware_at
    provider_privacy_act = pw.BooleanField(default=False)  # the provider is itself an APP entity (s 26WH duty)
    soci_reporting = pw.BooleanField(default=False)  # critical infrastructure asset: SOCI Act ss 30BC/30BD clocks
    ransomware_reporting = pw.BooleanField(default=False)  # Cyber Security Act 2024 Part 3 payment reports
    pci_brand_target_hours = pw.IntegerField(default=0)  # the brands' "immediately", as an internal target
    business_day_calendar = pw.CharField(max_length=20, default="place")  # place | head_office | intersection
    head_office = pw.CharField(max_length=20, default="")  # the client's head-office state ('' = place)
    site_region = pw.CharField(max_length=60, default="")  # e.g. Brisbane: regional holidays count there only
    grace_days = pw.IntegerField(default=5)
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)
    # The planning watermark (services.register.planning): the local date the scheduler last planned every schedule of
    # this engagement for; NULL: plan it at the next tick (new, or something its planning reads changed).
    planned_through = pw.DateField(null=True)

    class Meta:
        # (timezone, planned_through): the tick finds the engagements to plan per local date from the index alone
        indexes = ((("client", "name"), True), (("timezone", "planned_through"), False))


class EngagementInvitation(BaseModel):
    """The client's invitation to the provider it named (domain.invitations): until a provider admin accepts,
    the engagement points at a placeholder organisation and no provider sees it. Engagements created before
    invitations existed, and the ones seeds create, have none: their provider is accepted."""
    engagement = pw.ForeignKeyField(Engagement, backref="invitations", unique=True, on_delete="CASCADE")
    provider_name = pw.CharField(max_length=200)  # as the client typed it (clean_name), never resolved for it
    name_key = pw.CharField(max_length=200, index=True)  # casefolded: what a provider admin's organisation matches
    state = pw.CharField(max_length=20, default="pending")
    invited_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = pw.DateTimeField(default=utcnow)
    decided_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    decided_at = pw.DateTimeField(null=True)
    reason = pw.CharField(max_length=1000, default="")


class EngagementFramework(BaseModel):
    engagement = pw.ForeignKeyField(Engagement, backref="framework_links", on_delete="CASCADE")
    framework = pw.ForeignKeyField(Framework, on_delete="RESTRICT")

    class Meta:
        indexes = ((("engagement", "framework"), True),)


class Applicability(BaseModel):
    """One row of the Statement of Applicability: engagement x control."""
    engagement = pw.ForeignKeyField(Engagement, backref="applicability", on_delete="CASCADE")
    control = pw.ForeignKeyField(Control, on_delete="RESTRICT")
    applicable = pw.BooleanField()
    justification = pw.TextField()
    owner = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    frequency_override = pw.CharField(max_length=200, null=True)
    first_due_date = pw.DateField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)
    # Set when a person edited the row: a re-scoped engagement then keeps that decision.
    edited_at = pw.DateTimeField(null=True)
    edited_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="applicability_edits")

    class Meta:
        indexes = ((("engagement", "control"), True),)


class EvidenceRequest(BaseModel):
    """One occurrence of a scheduled test: the provider owes this evidence for this period."""
    engagement = pw.ForeignKeyField(Engagement, backref="requests", on_delete="CASCADE")
    control = pw.ForeignKeyField(Control, on_delete="RESTRICT")
    requirement = pw.ForeignKeyField(EvidenceRequirement, on_delete="RESTRICT")
    period_start = pw.DateField()
    period_end = pw.DateField()
    due_at = pw.DateTimeField()  # UTC
    status = pw.CharField(max_length=12, default="upcoming")
    # The request series: 0 for the control's own. Otherwise the id of the sub-contractor whose own series this is
    # (the APP 8 reasonable-steps evidence of each cross-border recipient, services/subcontractors.py). Four letters
    # keep the unique index's name within PostgreSQL's 63 characters.
    lane = pw.IntegerField(default=0)
    # The person of the producing party who must deliver it (services/register/owners.py): by default the
    # Statement of Applicability row's owner when that owner is on the producing side.
    owner = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="owned_requests")
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("engagement", "requirement", "period_start", "lane"), True),
            # control too: the dashboard's due-soon counts per engagement × control read only this index
            (("engagement", "status", "due_at", "control"), False),
            (("engagement", "due_at"), False),
            (("status", "due_at"), False),
            (("engagement", "control"), False),
            # covering index of the overdue dashboard's counts (services/dashboard.py): no table lookups
            (("status", "due_at", "engagement", "control"), False),
            # the scheduler's upcoming -> open move (services/scheduler.py): an empty range when nothing starts
            (("status", "period_start"), False),
            # "my requests": an owner's requests by state and due date
            (("owner", "status", "due_at"), False),
        )


class Acquirer(BaseModel):
    """An acquirer of the engagement's card payments, with its notice period for a suspected compromise
    (its own PCI-BRAND clock; the brands' rules, confirmed with the acquirer)."""
    engagement = pw.ForeignKeyField(Engagement, backref="acquirers", on_delete="CASCADE")
    name = pw.CharField(max_length=100)
    hours = pw.IntegerField()

    class Meta:
        indexes = ((("engagement", "name"), True),)


class HolidayOverride(BaseModel):
    """Manual correction to the `holidays` package for one place and date."""
    place = pw.CharField(max_length=20)
    date = pw.DateField()
    is_holiday = pw.BooleanField()
    name = pw.CharField(max_length=200, default="")

    class Meta:
        indexes = ((("place", "date"), True),)


# The statuses counted in RequestTally: what the dashboard's trend and its overdue totals add up.
TALLIED_STATES = ("accepted", "overdue")


class RequestTally(BaseModel):
    """How many requests of an engagement are in a tallied state (``TALLIED_STATES``), per framework their
    control maps to (``framework_id`` 0: every request once) and per month due (``month`` "YYYY-MM", UTC;
    "" is the row of every month). Kept by database triggers on ``evidence_request`` (migration 011) in the
    same statement as the change, so it always equals the grouped count of the requests; rebuilt in full when
    the library's mappings change (``services.register.dashboard.rebuild_tally``). The dashboard reads these few rows
    instead of counting every overdue and accepted request."""
    engagement = pw.ForeignKeyField(Engagement, on_delete="CASCADE")
    framework_id = pw.IntegerField()  # 0 or a Framework id (no foreign key: 0 is no framework)
    status = pw.CharField(max_length=12)
    month = pw.CharField(max_length=7)
    n = pw.IntegerField(default=0)

    class Meta:
        # the unique key (the triggers' upserts name it), and the same with ``n`` for reads from the index alone
        indexes = ((("status", "month", "framework_id", "engagement"), True),
                   (("status", "month", "framework_id", "engagement", "n"), False))
