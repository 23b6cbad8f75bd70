"""Governance: the three forums, meetings scheduled ahead by the scheduler with live agendas, holding with
attendees and minutes, decisions and actions escalated to the tier above, the action log, and priced change
control (SPEC §9)."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from domain import governance as rules
from domain.errors import Conflict, ValidationError
from domain.timeutil import local
from models import (
    Action,
    AuditEvent,
    ChangeEvent,
    ChangeRequest,
    EvidenceRequest,
    Forum,
    Meeting,
    Notification,
    utcnow,
)
from services.alerts.scheduler import tick
from services.demo import files as demo_files
from services.governance import meetings
from services.governance.changes import approved_monthly_total
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)

FRAMEWORKS = ["CONTRACT", "PCIDSS-4.0.1", "ISO27001-2022", "CPS230"]


@pytest.fixture
def gov(client, make_user):
    admin, reviewer = make_user("client_admin"), make_user("risk_reviewer")
    provider_admin, contributor = make_user("provider_admin"), make_user("provider_contributor")
    start = (dt.date.today() - dt.timedelta(days=75)).isoformat()
    engagement = create_accepted_engagement(admin,
            {"name": "Cards centre", "provider": "BPO A", "frameworks": FRAMEWORKS,
                                           "place": "NSW", "start_date": start, "card_payments": True})
    now = utcnow()
    tick(now=now)
    return {"engagement": engagement, "now": now, "client": bearer(admin), "reviewer": bearer(reviewer),
            "provider": bearer(provider_admin), "contributor": bearer(contributor), "admin": admin,
            "reviewer_user": reviewer, "provider_admin": provider_admin, "contributor_user": contributor}


def forums_of(client, gov, who="client") -> list[dict]:
    response = client.get(f"/api/v1/engagements/{gov['engagement'].id}/forums", headers=gov[who])
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def forum(client, gov, tier: str) -> dict:
    return next(f for f in forums_of(client, gov) if f["tier"] == tier)


def next_meeting(tier_forum: dict) -> Meeting:
    return (Meeting.select().where(Meeting.forum == tier_forum["id"], Meeting.status == "scheduled")
            .order_by(Meeting.scheduled_for).first())


def upload_minutes(client, gov, meeting: Meeting, engagement=None, headers=None, request=None) -> int:
    """Upload a PDF to the meeting's SP-07 review-minutes request (or to ``request``); its evidence id."""
    engagement = engagement or gov["engagement"]
    request = request or meetings.minutes_request(meeting, engagement) or meetings.minutes_request(
        Meeting(scheduled_for=utcnow()), engagement)
    response = client.post(f"/api/v1/engagements/{engagement.id}/evidence", content_type="multipart/form-data",
                           headers=headers or gov["contributor"],
                           data={"request_id": str(request.id), "effective_date": dt.date.today().isoformat(),
                                 "file": (io.BytesIO(demo_files.pdf("Service review minutes")),
                                          "minutes.pdf")})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()["error"]
    assert body["message"]
    if field:
        assert body.get("field") == field, body
    return body


# --------------------------------------------------------------------------- domain

def test_transition_tables_and_cadence_arithmetic():
    assert rules.CHANGE_TRANSITIONS["priced"] == {"approved", "rejected"}
    assert rules.CHANGE_TRANSITIONS["approved"] == {"implemented"}
    assert rules.MEETING_TRANSITIONS["held"] == set() and rules.ACTION_TRANSITIONS["done"] == set()
    assert [rules.escalation_tier(t) for t in rules.TIERS] == ["performance", "executive", None]
    anchor = dt.date(2026, 1, 31)
    assert rules.next_meeting_day("P3M", anchor, dt.date(2026, 5, 1)) == dt.date(2026, 7, 31)  # never drifts
    assert rules.next_meeting_day("P1W", dt.date(2026, 1, 5), dt.date(2026, 12, 30)) == dt.date(2027, 1, 4)
    assert rules.next_meeting_day("P1M", anchor, dt.date(2026, 1, 1)) == anchor
    for bad in ("weekly", "event", "P0D", "RRULE:FREQ=HOURLY", 7):
        with pytest.raises(ValidationError):
            rules.parse_cadence(bad)


def test_money_is_exact_and_bad_amounts_are_refused():
    assert rules.parse_money("1250.5", "p") == Decimal("1250.50")
    assert rules.parse_money(3, "p") == Decimal("3.00")
    assert rules.parse_money("-1.5", "fte", signed=True) == Decimal("-1.50")
    for bad in ("1.005", "-1", "NaN", "Infinity", "1e12", "abc", "", None, True, [1]):
        with pytest.raises(ValidationError):
            rules.parse_money(bad, "p")
    with pytest.raises(ValidationError, match="provider prices"):
        rules.check_price_side("client")
    with pytest.raises(Conflict):
        rules.check_change_decision(status="approved", side="client", decision="reject", reason="late")
    with pytest.raises(ValidationError):
        rules.check_change_decision(status="priced", side="provider", decision="approve", reason="ok")


# --------------------------------------------------------------------------- forums and scheduling

def test_every_engagement_gets_the_three_forums_and_their_next_meetings_once(client, gov):
    listed = forums_of(client, gov)
    assert [(f["tier"], f["cadence"]) for f in listed] == [
        ("operational", "P1W"), ("performance", "P1M"), ("executive", "P3M")]
    now = gov["now"]
    for f in listed:
        upcoming = list(Meeting.select().where(Meeting.forum == f["id"]))
        assert len(upcoming) == 1 and upcoming[0].scheduled_for > now
        assert f["next_meeting_at"] is not None
    weekly = next_meeting(listed[0])
    assert weekly.scheduled_for - now <= dt.timedelta(days=7)
    meetings_before, notes_before = Meeting.select().count(), Notification.select().count()
    again = tick(now=now)
    assert not again.governance.meetings_scheduled and Meeting.select().count() == meetings_before
    assert Notification.select().count() == notes_before
    # once the weekly meeting's time has passed, the next one is scheduled a week on
    notified = Notification.select().where(Notification.kind == "meeting_scheduled",
                                           Notification.object_id == weekly.id)
    assert {n.user_id for n in notified} == {gov["admin"].id, gov["provider_admin"].id}  # no members yet: admins
    later = tick(now=weekly.scheduled_for + dt.timedelta(minutes=1))
    assert later.governance.meetings_scheduled >= 1
    following = Meeting.select().where(Meeting.forum == listed[0]["id"]).order_by(Meeting.scheduled_for.desc()).first()
    assert following.scheduled_for - weekly.scheduled_for == dt.timedelta(days=7)


def test_a_forum_is_edited_with_members_from_both_sides_and_bad_edits_change_nothing(client, gov, make_user, spec):
    weekly = forum(client, gov, "operational")
    url = f"/api/v1/forums/{weekly['id']}"
    body = {"members": [gov["admin"].email, gov["contributor_user"].email], "chair": gov["provider_admin"].email}
    edited = Contract(spec).check(client.patch(url, json=body, headers=gov["client"]), "patch",
                                  "/api/v1/forums/{forum_id}")
    assert edited["chair"] == gov["provider_admin"].email
    assert set(edited["members"]) == {gov["admin"].email, gov["contributor_user"].email, gov["provider_admin"].email}
    outsider = make_user("client_admin", org="Bank B")
    for bad, field in (({"cadence": "fortnightly"}, "cadence"), ({"members": [outsider.email]}, "members"),
                       ({"chair": "nobody@nowhere.example"}, "chair"), ({"tier": "board"}, "tier"),
                       ({"colour": "red"}, "colour")):
        error(client.patch(url, json=bad, headers=gov["client"]), 422, field)
    assert forum(client, gov, "operational") == edited
    error(client.patch(url, json={"name": "x"}, headers=gov["reviewer"]), 404)  # a reviewer does not manage forums
    other = bearer(outsider)
    missing = client.patch("/api/v1/forums/999999", json={"name": "x"}, headers=other)
    assert client.patch(url, json={"name": "x"}, headers=other).get_json() == missing.get_json()
    assert missing.status_code == 404
    # a new cadence replaces the meetings scheduled ahead
    old = next_meeting(weekly)
    Contract(spec).check(client.patch(url, json={"cadence": "P2W"}, headers=gov["client"]), "patch",
                         "/api/v1/forums/{forum_id}")
    assert Meeting.get_by_id(old.id).status == "cancelled"
    tick(now=utcnow())
    assert next_meeting(weekly) is not None and next_meeting(weekly).id != old.id


# --------------------------------------------------------------------------- agenda and holding

def test_the_agenda_is_live_until_the_meeting_is_held(client, gov, spec):
    engagement = gov["engagement"]
    weekly = forum(client, gov, "operational")
    meeting = next_meeting(weekly)
    path = "/api/v1/meetings/{meeting_id}"
    body = Contract(spec).check(client.get(f"/api/v1/meetings/{meeting.id}", headers=gov["client"]), "get", path)
    overdue = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id,
                                             EvidenceRequest.status == "overdue").count()
    assert overdue > 0 and body["agenda"]["overdue_requests"]["count"] == overdue
    assert len(body["agenda"]["overdue_requests"]["items"]) == min(overdue, meetings.AGENDA_LINES)
    assert body["agenda"]["change_requests"]["count"] == 0
    client.post(f"/api/v1/engagements/{engagement.id}/change-requests", headers=gov["provider"],
                json={"title": "Add Vietnamese language line", "kind": "new_language"})
    live = client.get(f"/api/v1/meetings/{meeting.id}", headers=gov["client"]).get_json()
    assert live["agenda"]["change_requests"]["count"] == 1
    assert live["agenda"]["change_requests"]["items"][0]["title"] == "Add Vietnamese language line"

    minutes = upload_minutes(client, gov, meeting)
    held = Contract(spec).check(client.post(f"/api/v1/meetings/{meeting.id}/held", headers=gov["client"], json={
        "attendees": [gov["admin"].email, gov["provider_admin"].email], "minutes_evidence_id": minutes}),
        "post", "/api/v1/meetings/{meeting_id}/held")
    assert held["status"] == "held" and held["minutes_evidence_id"] == minutes
    assert held["attendees"] == sorted([gov["admin"].email, gov["provider_admin"].email])
    assert held["minutes_request_id"] is not None  # the minutes prove SP-07's review-minutes request
    # held: the agenda is the one it was held on, whatever happens next
    client.post(f"/api/v1/engagements/{engagement.id}/change-requests", headers=gov["provider"],
                json={"title": "New web chat channel", "kind": "new_channel"})
    after = client.get(f"/api/v1/meetings/{meeting.id}", headers=gov["client"]).get_json()
    assert after["agenda"]["change_requests"]["count"] == 1
    assert AuditEvent.select().where(AuditEvent.action == "meeting.held",
                                     AuditEvent.object_id == str(meeting.id)).exists()
    error(client.post(f"/api/v1/meetings/{meeting.id}/held", headers=gov["client"], json={
        "attendees": [gov["admin"].email], "minutes_evidence_id": minutes}), 409)


def test_bad_holdings_are_refused_and_change_nothing(client, gov, make_user):
    meeting = next_meeting(forum(client, gov, "operational"))  # within a week: held_at now is not too early
    url = f"/api/v1/meetings/{meeting.id}/held"
    minutes = upload_minutes(client, gov, Meeting(scheduled_for=utcnow()))
    stranger_admin = make_user("client_admin", org="Bank B")
    other = create_accepted_engagement(stranger_admin,
            {"name": "Elsewhere", "provider": "BPO B", "frameworks": FRAMEWORKS,
                                               "place": "VIC", "start_date": (dt.date.today() - dt.timedelta(days=90))
                                               .isoformat()})
    tick(now=utcnow())
    foreign = upload_minutes(client, gov, Meeting(scheduled_for=utcnow()), engagement=other,
                             headers=bearer(make_user("provider_contributor", org="BPO B")))
    good = {"attendees": [gov["admin"].email], "minutes_evidence_id": minutes}
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    for body, field in (({**good, "held_at": future}, "held_at"),
                        ({**good, "minutes_evidence_id": foreign}, "minutes_evidence_id"),
                        ({**good, "minutes_evidence_id": 99999999}, "minutes_evidence_id"),
                        ({**good, "minutes_evidence_id": None}, "minutes_evidence_id"),
                        ({**good, "attendees": [stranger_admin.email]}, "attendees"),
                        ({**good, "attendees": []}, "attendees"),
                        ({**good, "held_at": "yesterday"}, "held_at")):
        error(client.post(url, json=body, headers=gov["client"]), 422, field)
    foreign_body = client.post(url, json={**good, "minutes_evidence_id": foreign}, headers=gov["client"]).get_json()
    missing_body = client.post(url, json={**good, "minutes_evidence_id": 99999999}, headers=gov["client"]).get_json()
    assert foreign_body == missing_body
    assert Meeting.get_by_id(meeting.id).status == "scheduled"
    error(client.post(url, json=good, headers=bearer(stranger_admin)), 404)
    assert Meeting.get_by_id(meeting.id).status == "scheduled"


# --------------------------------------------------------------------------- decisions, actions, escalation

def test_an_overdue_action_is_escalated_to_the_tier_above_and_notified_once(client, gov, spec):
    weekly = next_meeting(forum(client, gov, "operational"))
    monthly = next_meeting(forum(client, gov, "performance"))
    decision = client.post(f"/api/v1/meetings/{weekly.id}/decisions", headers=gov["client"],
                           json={"kind": "backlog_priority", "text": "Clear the complaints backlog first"})
    Contract(spec).check(decision, "post", "/api/v1/meetings/{meeting_id}/decisions")
    error(client.post(f"/api/v1/meetings/{weekly.id}/decisions", headers=gov["client"],
                      json={"kind": "backlog_priority", "text": "Clear the complaints backlog first"}), 409)
    error(client.post(f"/api/v1/meetings/{weekly.id}/decisions", headers=gov["client"],
                      json={"kind": "whim", "text": "x"}), 422, "kind")
    yesterday = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    created = client.post(f"/api/v1/meetings/{weekly.id}/actions", headers=gov["client"], json={
        "title": "Re-forecast Monday staffing", "owner": gov["provider_admin"].email, "due_date": yesterday})
    action = Contract(spec).check(created, "post", "/api/v1/meetings/{meeting_id}/actions")
    assert action["tier"] == "operational" and action["overdue"] and action["escalated_at"] is None
    error(client.post(f"/api/v1/meetings/{weekly.id}/actions", headers=gov["client"], json={
        "title": "Re-forecast Monday staffing", "owner": gov["provider_admin"].email, "due_date": yesterday}), 409)
    error(client.post(f"/api/v1/meetings/{weekly.id}/actions", headers=gov["client"], json={
        "title": "Other", "owner": "someone@elsewhere.example", "due_date": yesterday}), 422, "owner")
    error(client.post(f"/api/v1/meetings/{weekly.id}/actions", headers=gov["client"], json={
        "title": "Other", "owner": gov["provider_admin"].email, "due_date": "soon"}), 422, "due_date")

    first = tick(now=utcnow())
    assert first.governance.actions_escalated == 1
    assert Action.get_by_id(action["id"]).escalated_at is not None
    notes = Notification.select().where(Notification.kind == "action_overdue", Notification.object_id == action["id"])
    assert gov["provider_admin"].id in {n.user_id for n in notes}
    count = notes.count()
    assert tick(now=utcnow()).governance.actions_escalated == 0 and notes.count() == count
    agenda = client.get(f"/api/v1/meetings/{monthly.id}", headers=gov["client"]).get_json()["agenda"]
    assert [a["id"] for a in agenda["escalated_actions"]["items"]] == [action["id"]]
    weekly_agenda = client.get(f"/api/v1/meetings/{weekly.id}", headers=gov["client"]).get_json()["agenda"]
    assert weekly_agenda["escalated_actions"]["count"] == 0

    done = client.patch(f"/api/v1/actions/{action['id']}", json={"status": "done"}, headers=gov["provider"])
    assert Contract(spec).check(done, "patch", "/api/v1/actions/{action_id}")["status"] == "done"
    error(client.patch(f"/api/v1/actions/{action['id']}", json={"status": "cancelled"}, headers=gov["provider"]), 409)
    agenda = client.get(f"/api/v1/meetings/{monthly.id}", headers=gov["client"]).get_json()["agenda"]
    assert agenda["escalated_actions"]["count"] == 0


def test_the_action_log_filters_and_exports(client, gov, make_user, spec):
    weekly = next_meeting(forum(client, gov, "operational"))
    soon = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    late = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    for title, owner, due in (("Publish the roster", gov["provider_admin"], soon),
                              ("Fix the IVR prompt", gov["admin"], late)):
        assert client.post(f"/api/v1/meetings/{weekly.id}/actions", headers=gov["client"], json={
            "title": title, "owner": owner.email, "due_date": due}).status_code == 201
    log = Contract(spec).check(client.get("/api/v1/actions", headers=gov["client"]), "get", "/api/v1/actions")
    assert [a["title"] for a in log["items"]] == ["Fix the IVR prompt", "Publish the roster"]
    overdue = client.get("/api/v1/actions?overdue=1", headers=gov["provider"]).get_json()
    assert [a["title"] for a in overdue["items"]] == ["Fix the IVR prompt"]
    mine = client.get(f"/api/v1/actions?action_owner={gov['provider_admin'].email}", headers=gov["client"]).get_json()
    assert [a["title"] for a in mine["items"]] == ["Publish the roster"]
    error(client.get("/api/v1/actions?tier=board", headers=gov["client"]), 422, "tier")
    error(client.get("/api/v1/actions?engagement=abc", headers=gov["client"]), 422, "engagement")
    assert client.get("/api/v1/actions", headers=bearer(make_user("client_admin", org="Bank B"))).get_json()[
        "total"] == 0
    assert client.get("/api/v1/actions", headers=bearer(make_user("auditor"))).get_json()["total"] == 0


# --------------------------------------------------------------------------- change control

def test_a_change_request_is_priced_approved_and_implemented_opening_its_requests(client, gov, spec):
    engagement = gov["engagement"]
    base = f"/api/v1/engagements/{engagement.id}/change-requests"
    proposed = client.post(base, headers=gov["client"], json={
        "title": "New call reason: hardship", "kind": "new_call_reason", "description": "Financial hardship line"})
    row = Contract(spec).check(proposed, "post", "/api/v1/engagements/{engagement_id}/change-requests")
    assert row["status"] == "proposed" and row["proposed_side"] == "client"
    error(client.post(base, headers=gov["client"], json={"title": "New call reason: hardship",
                                                         "kind": "new_call_reason"}), 409)
    cr = f"/api/v1/change-requests/{row['id']}"
    error(client.post(f"{cr}/decision", headers=gov["client"], json={"decision": "approve", "reason": "ok"}), 409)
    error(client.post(f"{cr}/implemented", headers=gov["provider"], json={}), 409)
    price = {"one_off_price": "12500.00", "monthly_price": "3400.10", "fte_impact": "2.5",
             "kpi_impact": "AHT +8s for two months"}
    error(client.post(f"{cr}/price", headers=gov["client"], json=price), 422, "one_off_price")
    error(client.post(f"{cr}/price", headers=gov["provider"], json={**price, "monthly_price": "1.234"}), 422,
          "monthly_price")
    priced = Contract(spec).check(client.post(f"{cr}/price", headers=gov["provider"], json=price), "post",
                                  "/api/v1/change-requests/{change_request_id}/price")
    assert (priced["one_off_price"], priced["monthly_price"], priced["fte_impact"]) == ("12500.00", "3400.10", "2.50")
    assert ChangeRequest.get_by_id(row["id"]).monthly_price == Decimal("3400.10")
    told = Notification.select().where(Notification.kind == "change_request_pending",
                                       Notification.object_id == row["id"])
    assert {(n.user_id, n.occasion) for n in told} >= {(gov["provider_admin"].id, "proposed"),
                                                       (gov["admin"].id, "priced"), (gov["reviewer_user"].id, "priced")}
    error(client.post(f"{cr}/price", headers=gov["provider"], json=price), 409)
    error(client.post(f"{cr}/decision", headers=gov["provider"], json={"decision": "approve", "reason": "ok"}), 422,
          "decision")
    error(client.post(f"{cr}/decision", headers=gov["client"], json={"decision": "approve"}), 422, "reason")
    approved = client.post(f"{cr}/decision", headers=gov["client"],
                           json={"decision": "approve", "reason": "Within the annual change budget"})
    assert approved.get_json()["status"] == "approved"
    error(client.post(f"{cr}/decision", headers=gov["client"], json={"decision": "reject", "reason": "no"}), 409)
    assert approved_monthly_total(engagement) == Decimal("3400.10")
    events = ChangeEvent.select().count()
    done = client.post(f"{cr}/implemented", headers=gov["provider"], json={"significant": True})
    body = Contract(spec).check(done, "post", "/api/v1/change-requests/{change_request_id}/implemented")
    assert body["status"] == "implemented" and body["change_event"] is not None and body["requests"]
    assert ChangeEvent.select().count() == events + 1
    assert ChangeEvent.get_by_id(body["change_event"]).kind == "significant_change"
    error(client.post(f"{cr}/implemented", headers=gov["provider"], json={"significant": True}), 409)
    assert ChangeEvent.select().count() == events + 1
    listed = client.get(f"{base}?change_status=implemented", headers=gov["client"])
    assert Contract(spec).check(listed, "get", "/api/v1/engagements/{engagement_id}/change-requests")["total"] == 1
    error(client.get(f"{base}?change_status=maybe", headers=gov["client"]), 422, "change_status")


def test_another_tenant_gets_exactly_what_a_missing_id_gets(client, gov, make_user):
    engagement = gov["engagement"]
    meeting = next_meeting(forum(client, gov, "operational"))
    cr = client.post(f"/api/v1/engagements/{engagement.id}/change-requests", headers=gov["provider"],
                     json={"title": "Weekend chat", "kind": "new_channel"}).get_json()
    stranger = bearer(make_user("provider_admin", org="BPO B"))
    for template, real in (("/api/v1/engagements/{}/forums", engagement.id), ("/api/v1/meetings/{}", meeting.id),
                           ("/api/v1/change-requests/{}", cr["id"]),
                           ("/api/v1/engagements/{}/change-requests", engagement.id)):
        response = client.get(template.format(real), headers=stranger)
        assert response.status_code == 404
        assert response.get_json() == client.get(template.format(99999999), headers=stranger).get_json()
    error(client.post(f"/api/v1/change-requests/{cr['id']}/price", headers=stranger,
                      json={"one_off_price": "1.00", "monthly_price": "1.00"}), 404)
    assert ChangeRequest.get_by_id(cr["id"]).status == "proposed"
    assert Forum.select().where(Forum.engagement == engagement.id).count() == 3


GARBAGE = [None, 7, True, [], ["x"], {"a": 1}, "", "\ud800"[:0] + "x" * 300]


def test_type_confused_bodies_never_answer_500_and_change_nothing(client, gov):
    engagement = gov["engagement"]
    meeting = next_meeting(forum(client, gov, "operational"))
    weekly = forum(client, gov, "operational")
    cr = client.post(f"/api/v1/engagements/{engagement.id}/change-requests", headers=gov["provider"],
                     json={"title": "Garbage target", "kind": "other"}).get_json()
    action = client.post(f"/api/v1/meetings/{meeting.id}/actions", headers=gov["client"], json={
        "title": "Garbage action", "owner": gov["admin"].email,
        "due_date": dt.date.today().isoformat()}).get_json()
    writes = [
        ("patch", f"/api/v1/forums/{weekly['id']}", ("name", "tier", "cadence", "anchor", "chair", "members"),
         "client"),
        ("post", f"/api/v1/engagements/{engagement.id}/forums", ("name", "tier", "cadence", "members"), "client"),
        ("post", f"/api/v1/forums/{weekly['id']}/meetings", ("scheduled_for",), "client"),
        ("post", f"/api/v1/meetings/{meeting.id}/held", ("held_at", "attendees", "minutes_evidence_id"), "client"),
        ("post", f"/api/v1/meetings/{meeting.id}/decisions", ("kind", "text"), "client"),
        ("post", f"/api/v1/meetings/{meeting.id}/actions", ("title", "owner", "due_date", "finding_id", "kpi"),
         "client"),
        ("patch", f"/api/v1/actions/{action['id']}", ("status", "title", "owner", "due_date"), "client"),
        ("post", f"/api/v1/engagements/{engagement.id}/change-requests", ("title", "kind", "description"), "client"),
        ("post", f"/api/v1/change-requests/{cr['id']}/price",
         ("one_off_price", "monthly_price", "fte_impact", "kpi_impact"), "provider"),
        ("post", f"/api/v1/change-requests/{cr['id']}/decision", ("decision", "reason"), "client"),
        ("post", f"/api/v1/change-requests/{cr['id']}/implemented", ("implemented_at", "significant"), "provider"),
        ("post", f"/api/v1/engagements/{engagement.id}/reports", ("period_start", "period_end", "meeting_id"),
         "client"),
    ]
    before = (Meeting.select().count(), Action.select().count(), ChangeRequest.select().count(),
              Forum.select().count())
    for method, url, fields, who in writes:
        for name in fields:
            for value in GARBAGE:
                response = getattr(client, method)(url, json={name: value}, headers=gov[who])
                # a forum's edit may legitimately clear its chair or members or reset its anchor
                allowed = (200, 400, 422) if url.startswith("/api/v1/forums/") and method == "patch" else (
                    400, 404, 409, 422)
                assert response.status_code in allowed, (url, name, value, response.get_json())
        for body in ([], "text", 3):
            assert getattr(client, method)(url, json=body, headers=gov[who]).status_code in (400, 422)
    assert (Meeting.select().count(), Action.select().count(), ChangeRequest.select().count(),
            Forum.select().count()) == before
    assert Action.get_by_id(action["id"]).status == "open" and ChangeRequest.get_by_id(cr["id"]).status == "proposed"


def test_an_action_due_and_an_agenda_ready_are_notified_once(client, gov):
    weekly = next_meeting(forum(client, gov, "operational"))
    engagement = gov["engagement"]
    tomorrow = (local(utcnow(), engagement.timezone).date() + dt.timedelta(days=1)).isoformat()
    later = (local(utcnow(), engagement.timezone).date() + dt.timedelta(days=9)).isoformat()
    due = client.post(f"/api/v1/meetings/{weekly.id}/actions", headers=gov["client"], json={
        "title": "Send the revised roster", "owner": gov["provider_admin"].email, "due_date": tomorrow}).get_json()
    not_yet = client.post(f"/api/v1/meetings/{weekly.id}/actions", headers=gov["client"], json={
        "title": "Plan the Easter peak", "owner": gov["provider_admin"].email, "due_date": later}).get_json()
    tick(now=utcnow())
    reminders = Notification.select().where(Notification.kind == "action_due")
    assert [(n.user_id, n.object_id) for n in reminders] == [(gov["provider_admin"].id, due["id"])]
    assert Action.get_by_id(not_yet["id"]).due_notified_at is None

    monthly = next_meeting(forum(client, gov, "performance"))
    Meeting.update(scheduled_for=utcnow() + dt.timedelta(hours=20)).where(Meeting.id == monthly.id).execute()
    tick(now=utcnow())
    agenda = Notification.select().where(Notification.kind == "agenda_ready", Notification.object_id == monthly.id)
    assert {n.user_id for n in agenda} == {gov["admin"].id, gov["provider_admin"].id}
    assert "overdue requests" in agenda.first().body
    count = Notification.select().count()
    tick(now=utcnow())
    assert Notification.select().count() == count
