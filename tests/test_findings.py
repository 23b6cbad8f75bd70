"""Findings (SPEC §2 Finding, §5 findings routes): the state machine, raise_finding and the API."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from domain.findings import FindingError, check_move
from models import AuditEvent, Finding, Notification
from services.incidents.findings import raise_finding
from services.register.engagements import create_accepted_engagement
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)

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
    return create_accepted_engagement(admin, {"name": "Finding centre", "provider": "BPO A", "frameworks": ["CPS230"],
                                     "place": "NSW", "start_date": "2026-01-01"}, now=T(2026, 6, 1))


def test_raise_finding_with_a_key_raises_once_audits_and_notifies_the_risk_team(engagement, make_user):
    reviewer = make_user("risk_reviewer")
    first = raise_finding(engagement, source="clock", title="Clock breached", key="clock:1")
    again = raise_finding(engagement, source="clock", title="Clock breached", key="clock:1")
    assert first.id == again.id and Finding.select().count() == 1 and first.status == "open"
    assert AuditEvent.select().where(AuditEvent.action == "finding.create").count() == 1
    assert Notification.select().where(Notification.user == reviewer.id,
                                       Notification.kind == "finding_raised").count() == 1


def _api_setup(client, make_user):
    from tests.conftest import accept_invitation, bearer
    admin = make_user("client_admin")
    headers = bearer(admin)
    response = client.post("/api/v1/engagements", headers=headers, json={
        "name": "Finding API centre", "provider": "BPO A", "frameworks": ["CPS234"], "place": "NSW",
        "start_date": "2026-01-01"})
    provider = make_user("provider_admin")
    accept_invitation(client, response.get_json()["id"], provider)
    return response.get_json()["id"], headers, bearer(provider), provider


def test_the_finding_lifecycle_through_the_api(client, make_user, spec):
    from tests.test_openapi import Contract
    engagement_id, client_h, provider_h, provider = _api_setup(client, make_user)
    contract = Contract(spec)
    created = client.post(f"/api/v1/engagements/{engagement_id}/findings", headers=client_h,
                          json={"title": "Access review not evidenced", "severity": "high",
                                "owner": provider.email, "due_date": "2027-01-15"})
    body = contract.check(created, "post", "/api/v1/engagements/{engagement_id}/findings")
    assert body["status"] == "open" and body["owner"] == provider.email and body["source"] == "manual"
    url = f"/api/v1/findings/{body['id']}"
    # a move that skips a state, or by the wrong side, is refused and changes nothing
    for who, change in ((client_h, {"status": "closed"}), (client_h, {"status": "in_progress"}),
                        (provider_h, {"status": "plan_submitted"}), (client_h, {"action_plan": "x"}),
                        (provider_h, {"severity": "low"}), (client_h, {"status": "bogus"})):
        response = client.patch(url, headers=who, json=change)
        assert response.status_code == 422, (change, response.get_json())
    assert Finding.get_by_id(body["id"]).status == "open"
    step = client.patch(url, headers=provider_h, json={"status": "plan_submitted", "action_plan": "Re-run review"})
    assert contract.check(step, "patch", "/api/v1/findings/{finding_id}")["status"] == "plan_submitted"
    assert client.patch(url, headers=client_h, json={"status": "in_progress"}).get_json()["status"] == "in_progress"
    assert client.patch(url, headers=client_h, json={"status": "closed"}).status_code == 422  # no evidence
    evidence = _evidence(engagement_id)
    closed = client.patch(url, headers=client_h, json={"status": "closed", "closure_evidence_id": evidence})
    assert closed.get_json()["status"] == "closed" and closed.get_json()["closure_evidence_id"] == evidence
    listed = client.get("/api/v1/findings", headers=provider_h)
    assert contract.check(listed, "get", "/api/v1/findings")["total"] == 1
    stranger = bearer_for(make_user("risk_reviewer", org="Bank Z"))
    assert client.get(url, headers=stranger).status_code == 404
    assert client.patch(url, headers=stranger, json={"title": "x"}).status_code == 404
    assert client.get("/api/v1/findings/99999999999999999999", headers=stranger).status_code == 404


def bearer_for(user):
    from tests.conftest import bearer
    return bearer(user)


def _evidence(engagement_id: int, status: str = "accepted", skip: int = 0) -> int:
    from models import Evidence, EvidenceRequest
    request = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement_id).order_by(
        EvidenceRequest.id).offset(skip).first()
    return Evidence.create(request=request, engagement=engagement_id, sha256=f"{skip:064d}", status=status,
                           original_filename="fix.pdf", media_type="application/pdf", size=10,
                           effective_date=dt.date(2026, 12, 1), reviewed_at=dt.datetime(2026, 12, 2)).id


def _planned(client, engagement_id, client_h, provider_h) -> str:
    created = client.post(f"/api/v1/engagements/{engagement_id}/findings", headers=client_h,
                          json={"title": "Leaver access not removed"}).get_json()
    url = f"/api/v1/findings/{created['id']}"
    assert client.patch(url, headers=provider_h, json={"status": "plan_submitted",
                                                       "action_plan": "Weekly reconciliation"}).status_code == 200
    return url


def test_closure_needs_accepted_evidence_of_the_engagement(client, make_user):
    engagement_id, client_h, provider_h, _provider = _api_setup(client, make_user)
    url = _planned(client, engagement_id, client_h, provider_h)
    assert client.patch(url, headers=client_h, json={"status": "in_progress"}).status_code == 200
    other_id = client.post("/api/v1/engagements", headers=client_h, json={
        "name": "Another centre", "provider": "BPO A", "frameworks": ["CPS234"], "place": "NSW",
        "start_date": "2026-01-01"}).get_json()["id"]
    for refused in (_evidence(engagement_id, "withdrawn"), _evidence(engagement_id, "submitted", skip=1),
                    _evidence(engagement_id, "rejected", skip=2), _evidence(other_id)):
        response = client.patch(url, headers=client_h, json={"status": "closed", "closure_evidence_id": refused})
        assert response.status_code == 422, refused
        assert response.get_json()["error"]["field"] == "closure_evidence_id"
        assert Finding.get_by_id(int(url.rsplit("/", 1)[1])).status == "in_progress"
    accepted = _evidence(engagement_id, skip=3)
    closed = client.patch(url, headers=client_h, json={"status": "closed", "closure_evidence_id": accepted})
    assert closed.status_code == 200 and closed.get_json()["closure_evidence_id"] == accepted


def test_a_returned_plan_says_why_and_the_timeline_shows_every_move(client, make_user):
    from services.incidents import findings as finding_service
    engagement_id, client_h, provider_h, provider = _api_setup(client, make_user)
    url = _planned(client, engagement_id, client_h, provider_h)
    refused = client.patch(url, headers=client_h, json={"status": "open"})
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "reason"
    assert client.patch(url, headers=client_h, json={"status": "open", "reason": "   "}).status_code == 422
    finding = Finding.get_by_id(int(url.rsplit("/", 1)[1]))
    assert finding.status == "plan_submitted"
    returned = client.patch(url, headers=client_h, json={"status": "open", "reason": "No owner for the weekly run"})
    assert returned.status_code == 200 and returned.get_json()["status"] == "open"
    moves = [(t.action, t.status_from, t.status_to, t.reason, t.actor) for t in finding_service.timeline(finding)]
    assert moves[0][0] == "finding.create"
    assert moves[1][:3] == ("finding.plan_submitted", "open", "plan_submitted") and moves[1][4] == provider.email
    assert moves[2][:4] == ("finding.open", "plan_submitted", "open", "No owner for the weekly run")


def test_the_finding_page_offers_accepted_evidence_own_request_first_and_shows_the_timeline(app, client, make_user):
    from models import Evidence
    from tests.conftest import login
    engagement_id, client_h, provider_h, _provider = _api_setup(client, make_user)
    url = _planned(client, engagement_id, client_h, provider_h)
    finding_id = int(url.rsplit("/", 1)[1])
    newer = _evidence(engagement_id, skip=1)
    own = _evidence(engagement_id, skip=0)
    withdrawn = _evidence(engagement_id, "withdrawn", skip=2)
    Finding.update(request=Evidence.get_by_id(own).request_id).where(Finding.id == finding_id).execute()
    Evidence.update(reviewed_at=dt.datetime(2026, 12, 5)).where(Evidence.id == newer).execute()
    assert client.patch(url, headers=client_h, json={"status": "in_progress"}).status_code == 200
    browser = app.test_client()
    from models import User
    reviewer = make_user("risk_reviewer")
    assert User.get_by_id(reviewer.id).organisation.name == "Bank A"
    login(browser, reviewer)
    page = browser.get(f"/findings/{finding_id}").get_data(as_text=True)
    options = re.findall(r'<option value="(\d+)">', page)
    assert options[:2] == [str(own), str(newer)] and str(withdrawn) not in options
    assert "Timeline" in page and "plan submitted" in page and "in progress" in page


def test_notifications_api_lists_the_callers_own_and_marks_them_read(client, make_user, spec):
    from services.messages import notifications
    from tests.test_openapi import Contract
    contract = Contract(spec)
    user, other = make_user("risk_reviewer"), make_user("risk_reviewer")
    notifications.notify([user.id], "finding_due", "finding", 1, "due-1", title="Finding due tomorrow")
    mine = Notification.get(Notification.user == user.id)
    headers = bearer_for(user)
    listed = contract.check(client.get("/api/v1/notifications?unread=true", headers=headers), "get",
                            "/api/v1/notifications")
    assert [n["id"] for n in listed["items"]] == [mine.id]
    assert client.post(f"/api/v1/notifications/{mine.id}/read", headers=bearer_for(other)).status_code == 404
    read = client.post(f"/api/v1/notifications/{mine.id}/read", headers=headers)
    assert contract.check(read, "post", "/api/v1/notifications/{notification_id}/read")["read"] is True
    assert client.get("/api/v1/notifications?unread=true", headers=headers).get_json()["total"] == 0
    settings = client.post("/api/v1/notifications/settings", headers=headers, json={"mode": "digest"})
    assert contract.check(settings, "post", "/api/v1/notifications/settings") == {"mode": "digest", "unread": 0}
    assert client.post("/api/v1/notifications/settings", headers=headers, json={"mode": "hourly"}).status_code == 422


def test_an_auditor_may_raise_a_finding_but_not_move_one(client, make_user):
    from models import AuditorGrant, Engagement
    engagement_id, client_h, _provider_h, _provider = _api_setup(client, make_user)
    auditor = make_user("auditor")
    AuditorGrant.create(auditor=auditor, engagement=engagement_id, frameworks='["CPS234"]',
                        starts_at=T(2026, 1, 1), expires_at=T(2099, 1, 1), granted_by=None)
    headers = bearer_for(auditor)
    created = client.post(f"/api/v1/engagements/{engagement_id}/findings", headers=headers,
                          json={"title": "Clean-desk checks not performed"})
    assert created.status_code == 201 and created.get_json()["source"] == "auditor"
    finding_id = created.get_json()["id"]
    assert client.patch(f"/api/v1/findings/{finding_id}", headers=headers,
                        json={"severity": "low"}).status_code == 404
    assert Engagement.get_by_id(engagement_id) and Finding.get_by_id(finding_id).severity == "medium"
