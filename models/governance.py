"""Governance: forums and their members, meetings with their agendas, decisions, actions, change requests.

States follow the transition tables in ``domain.governance``.
"""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .evidence import Evidence
from .incidents import ChangeEvent, Finding
from .org import User
from .register import Engagement


class Forum(BaseModel):
    """A governance forum of an engagement (one of the three tiers), meeting on ``cadence`` from ``anchor``.

    ``next_check_at``: when the scheduler next has to schedule a meeting (the upcoming meeting's time), so a
    pass with nothing due reads one index range."""
    engagement = pw.ForeignKeyField(Engagement, backref="forums", on_delete="CASCADE")
    name = pw.CharField(max_length=200)
    tier = pw.CharField(max_length=12)
    cadence = pw.CharField(max_length=200)
    anchor = pw.DateField()
    chair = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="chaired_forums")
    next_check_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("engagement", "tier"), False), (("next_check_at",), False))


class ForumMember(BaseModel):
    forum = pw.ForeignKeyField(Forum, backref="members", on_delete="CASCADE")
    user = pw.ForeignKeyField(User, on_delete="CASCADE", backref="forum_memberships")

    class Meta:
        indexes = ((("forum", "user"), True),)


class Meeting(BaseModel):
    """A meeting of a forum. Its agenda is live until it is held or cancelled; ``agenda`` keeps the one it was held
    (or cancelled) on."""
    forum = pw.ForeignKeyField(Forum, backref="meetings", on_delete="CASCADE")
    engagement = pw.ForeignKeyField(Engagement, backref="meetings", on_delete="CASCADE")
    scheduled_for = pw.DateTimeField()
    status = pw.CharField(max_length=10, default="scheduled")
    held_at = pw.DateTimeField(null=True)
    attendees = pw.TextField(default="[]")  # JSON list of e-mails
    minutes = pw.ForeignKeyField(Evidence, null=True, on_delete="RESTRICT")
    agenda = pw.TextField(default="")  # JSON: the agenda as it stood when held
    held_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="held_meetings")
    agenda_sent_at = pw.DateTimeField(null=True)  # when its people were told the agenda is ready (the day before)
    created_at = pw.DateTimeField(default=utcnow)
    cancelled_at = pw.DateTimeField(null=True)
    cancel_reason = pw.TextField(null=True)  # why it was cancelled (required when cancelling)

    class Meta:
        indexes = ((("forum", "scheduled_for"), True), (("engagement", "status", "scheduled_for"), False),
                   (("status", "agenda_sent_at", "scheduled_for"), False))


class Decision(BaseModel):
    meeting = pw.ForeignKeyField(Meeting, backref="decisions", on_delete="CASCADE")
    engagement = pw.ForeignKeyField(Engagement, on_delete="CASCADE")
    kind = pw.CharField(max_length=20)
    text = pw.TextField()
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)


class Action(BaseModel):
    """An action raised at a meeting. ``escalated_at``: when, overdue, it went onto the tier above's agenda."""
    meeting = pw.ForeignKeyField(Meeting, backref="actions", on_delete="CASCADE")
    engagement = pw.ForeignKeyField(Engagement, on_delete="CASCADE")
    tier = pw.CharField(max_length=12)  # the tier of the forum it was raised at
    title = pw.CharField(max_length=200)
    owner = pw.ForeignKeyField(User, on_delete="RESTRICT", backref="owned_actions")
    due_date = pw.DateField()
    status = pw.CharField(max_length=10, default="open")
    finding = pw.ForeignKeyField(Finding, null=True, on_delete="SET NULL")
    kpi = pw.CharField(max_length=40, default="")  # the KPI's code it comes from
    escalated_at = pw.DateTimeField(null=True)
    due_notified_at = pw.DateTimeField(null=True)  # when its owner was told it falls due
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="raised_actions")
    created_at = pw.DateTimeField(default=utcnow)
    closed_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("engagement", "status", "due_date"), False), (("status", "escalated_at", "due_date"), False),
                   (("status", "due_notified_at", "due_date"), False))


class ChangeRequest(BaseModel):
    """Priced change control: proposed by either side, priced by the provider, decided by the client."""
    engagement = pw.ForeignKeyField(Engagement, backref="change_requests", on_delete="CASCADE")
    title = pw.CharField(max_length=200)
    kind = pw.CharField(max_length=30)
    description = pw.TextField(default="")
    status = pw.CharField(max_length=12, default="proposed")
    proposed_side = pw.CharField(max_length=8)
    proposed_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="proposed_changes")
    proposed_at = pw.DateTimeField(default=utcnow)
    one_off_price = pw.DecimalField(max_digits=14, decimal_places=2, null=True, auto_round=False)
    monthly_price = pw.DecimalField(max_digits=14, decimal_places=2, null=True, auto_round=False)
    fte_impact = pw.DecimalField(max_digits=14, decimal_places=2, null=True, auto_round=False)
    kpi_impact = pw.TextField(default="")
    priced_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="priced_changes")
    priced_at = pw.DateTimeField(null=True)
    decided_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="decided_changes")
    decided_at = pw.DateTimeField(null=True)
    decision_reason = pw.TextField(default="")
    significant = pw.BooleanField(default=False)
    implemented_at = pw.DateTimeField(null=True)
    implemented_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="implemented_changes")
    change_event = pw.ForeignKeyField(ChangeEvent, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("engagement", "status"), False),)


class PerformanceReport(BaseModel):
    """The performance report of an engagement for a period (CPS 230 para 58, the executive forum), built in the
    background like a pack: ``status`` follows ``domain.packs.TRANSITIONS``; the PDF and the workbook are kept
    in the evidence store by SHA-256."""
    engagement = pw.ForeignKeyField(Engagement, backref="performance_reports", on_delete="CASCADE")
    meeting = pw.ForeignKeyField(Meeting, null=True, on_delete="SET NULL", backref="reports")
    period_start = pw.DateField()
    period_end = pw.DateField()
    status = pw.CharField(max_length=10, default="queued")
    progress = pw.IntegerField(default=0)
    requested_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="performance_reports")
    claimed_by = pw.CharField(max_length=120, default="")
    claimed_at = pw.DateTimeField(null=True)
    pdf_sha256 = pw.CharField(max_length=64, default="")
    pdf_size = pw.BigIntegerField(default=0)
    xlsx_sha256 = pw.CharField(max_length=64, default="")
    xlsx_size = pw.BigIntegerField(default=0)
    error = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)
    finished_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "created_at"), False), (("engagement", "created_at"), False))
