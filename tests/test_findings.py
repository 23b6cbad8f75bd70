"""Findings (SPEC §2 Finding, §5 findings routes): the state machine, raise_finding and the API."""
from __future__ import annotations

import datetime as dt

import pytest

from domain.findings import FindingError, check_move
from models import AuditEvent, Finding, Notification
from services.engagements import create_engagement
from services.findings import raise_finding

T = dt.datetime


def test_a_finding_moves_open_plan_submitted_in_progress_closed_and_never_skips():
    check_move("open", "plan_submitted", "provider", action_plan="Fix it")
    check_move("plan_submitted", "in_progress", "client")
    check_move("in_progress", "closed", "client", closure_evidence=True)
    for old, new, side in (("open", "in_progress", "client"), ("open", "closed", "client"),
                           ("plan_submitted", "closed", "client"), ("closed", "open", "client")):
        with pytest.raises(FindingError):
            check_move(old, new, side)
    with pytest.raises(FindingError, match="only the provider"):
        check_move("open", "plan_submitted", "client", action_plan="x")
    with pytest.raises(FindingError, match="action plan"):
        check_move("open", "plan_submitted", "provider", action_plan="  ")
    with pytest.raises(FindingError, match="evidence"):
        check_move("in_progress", "closed", "client")


@pytest.fixture
def engagement(make_user):
    admin = make_user("client_admin")
    return create_engagement(admin, {"name": "Finding centre", "provider": "BPO A", "frameworks": ["CPS230"],
                                     "place": "NSW", "start_date": "2026-01-01"}, now=T(2026, 6, 1))


def test_raise_finding_with_a_key_raises_once_audits_and_notifies_the_risk_team(engagement, make_user):
    reviewer = make_user("risk_reviewer")
    first = raise_finding(engagement, source="clock", title="Clock breached", key="clock:1")
    again = raise_finding(engagement, source="clock", title="Clock breached", key="clock:1")
    assert first.id == again.id and Finding.select().count() == 1 and first.status == "open"
    assert AuditEvent.select().where(AuditEvent.action == "finding.create").count() == 1
    assert Notification.select().where(Notification.user == reviewer.id,
                                       Notification.kind == "finding_raised").count() == 1
