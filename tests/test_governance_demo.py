"""The demo's governance: meetings held with minutes that prove SP-07, decisions, actions some of which are
escalated by the demo's scheduler pass, a monthly meeting cancelled with its reason, change requests in every
state (the significant one with its change event) and exit items current, stale and missing."""
from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta

from domain.governance import CHANGE_STATES
from domain.timeutil import local
from models import (
    Action,
    ChangeEvent,
    ChangeRequest,
    Control,
    Decision,
    Evidence,
    EvidenceRequest,
    Forum,
    Meeting,
    utcnow,
)
from services.alerts.scheduler import tick
from services.demo import dataset as demo
from services.governance import exit_readiness


def test_the_demo_engagement_is_governed(library, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "Demo-Password-123")
    demo.create_demo()
    tick(now=utcnow())
    engagement = demo.Engagement.get(demo.Engagement.name == demo.ENGAGEMENT)
    held = list(Meeting.select().where(Meeting.engagement == engagement.id, Meeting.status == "held"))
    assert len(held) >= 12
    # every month since the engagement began (at most 18 months back) has its monthly review, held or cancelled
    monthly = Meeting.select().join(Forum).where(Meeting.engagement == engagement.id, Forum.tier == "performance",
                                                 Meeting.scheduled_for < utcnow())
    months = {local(m.scheduled_for, engagement.timezone).strftime("%Y-%m") for m in monthly}
    first = max(engagement.start_date, dt.date.today() - relativedelta(months=18))
    assert len(months) >= (dt.date.today().year - first.year) * 12 + dt.date.today().month - first.month
    assert len(months) >= 18  # the demo engagement began eighteen whole months ago
    cancelled = [m for m in monthly if m.status == "cancelled"]
    assert cancelled and all(m.cancel_reason and m.agenda for m in cancelled)
    minutes = Evidence.select(Evidence, EvidenceRequest, Control).join(EvidenceRequest).join(Control).where(
        Evidence.id.in_([m.minutes_id for m in held]))
    assert {e.request.control.code for e in minutes} == {"SP-07"}  # one upload proves both
    assert Decision.select().where(Decision.engagement == engagement.id).count() == len(held)
    actions = Action.select().where(Action.engagement == engagement.id)
    statuses = {(a.status, a.escalated_at is not None) for a in actions}
    assert {("done", False), ("open", True)} <= statuses
    assert {c.status for c in ChangeRequest.select().where(ChangeRequest.engagement == engagement.id)} == set(
        CHANGE_STATES)
    significant = ChangeRequest.get(ChangeRequest.engagement == engagement.id, ChangeRequest.significant == True)  # noqa: E712
    assert ChangeEvent.get_by_id(significant.change_event_id).kind == "significant_change"
    assert {i.state for i in exit_readiness.exit_items(engagement)} == {"current", "stale", "missing"}
    before = Meeting.select().count(), ChangeRequest.select().count(), Evidence.select().count()
    demo.create_demo()
    assert (Meeting.select().count(), ChangeRequest.select().count(), Evidence.select().count()) == before
