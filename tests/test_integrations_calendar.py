"""Calendar feeds: a user's secret .ics address (shown once, stored hashed, revocable) that a calendar client
parses, listing what the user's pages show, with stable UIDs, in a fixed number of statements."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from conftest import bearer
from icalendar import Calendar

from models import AuditEvent, CalendarFeed, Clock, Control, EvidenceRequest, Finding, Incident, Meeting, utcnow
from services import scope
from services.alerts.scheduler import tick
from services.governance import meetings
from services.integrations import calendar
from services.people.users import deactivate
from services.register.engagements import create_accepted_engagement
from tests.test_planning import Statements


def engage(admin, name: str, provider: str = "BPO A"):
    today = utcnow().date()
    return create_accepted_engagement(admin, {"name": name, "provider": provider, "frameworks": ["ISO27001-2022"],
                                     "place": "NSW", "start_date": (today - dt.timedelta(days=10)).isoformat()})


@pytest.fixture
def parties(make_user):
    admin = make_user("client_admin")
    engagement = engage(admin, "Calendar centre")
    other_admin = make_user("client_admin", org="Bank B")
    elsewhere = engage(other_admin, "Someone else's centre", provider="BPO B")
    return {"admin": admin, "risk": make_user("risk_reviewer"), "provider": make_user("provider_contributor"),
            "engagement": engagement, "elsewhere": elsewhere}


def new_feed(client, user) -> str:
    response = client.post("/api/v1/calendar-feeds", headers=bearer(user))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["url"].endswith(".ics") and body["prefix"] in body["url"]
    return urlsplit(body["url"]).path


def uids(ics: bytes) -> list[str]:
    return [str(event["UID"]) for event in Calendar.from_ical(ics).walk("VEVENT")]


def test_a_calendar_client_parses_the_feed_of_what_the_user_may_see(client, parties):
    engagement = parties["engagement"]
    incident = Incident.create(engagement=engagement, title="Outage", category="operational_disruption",
                               occurred_at=utcnow(), aware_at=utcnow(), aware_party="client")
    clock = Clock.create(incident=incident, rule_id="CPS230-INCIDENT", started_at=utcnow(),
                         deadline_at=utcnow() + dt.timedelta(hours=72), basis="72 elapsed hours")
    finding = Finding.create(engagement=engagement, source="incident", title="Fix the runbook",
                             due_date=utcnow().date() + dt.timedelta(days=14))
    path = new_feed(client, parties["risk"])
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    parsed = Calendar.from_ical(response.data)
    events = {str(e["UID"]): e for e in parsed.walk("VEVENT")}
    mine = {f"due-{engagement.id}-{r.due_at.date()}@attest" for r in EvidenceRequest.select().where(
        EvidenceRequest.engagement == engagement.id, EvidenceRequest.status.in_(calendar.OPEN_REQUESTS),
        EvidenceRequest.due_at.between(utcnow(), utcnow() + calendar.FUTURE - dt.timedelta(days=1)))}
    assert mine and mine <= set(events)
    assert not [uid for uid in events if uid.startswith(f"due-{parties['elsewhere'].id}-")]  # another tenant's
    some = (EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id,  # its day's first: named
                                           EvidenceRequest.status.in_(calendar.OPEN_REQUESTS),
                                           EvidenceRequest.due_at > utcnow())
            .order_by(EvidenceRequest.due_at, EvidenceRequest.id).first())
    assert f"request #{some.id}" in str(events[f"due-{engagement.id}-{some.due_at.date()}@attest"]["DESCRIPTION"])
    assert events[f"clock-{clock.id}@attest"].decoded("DTSTART").utcoffset() == dt.timedelta(0)  # UTC
    assert events[f"finding-{finding.id}@attest"].decoded("DTSTART") == finding.due_date  # an all-day event
    assert str(events[f"finding-{finding.id}@attest"]["SUMMARY"]) == "Finding due: Fix the runbook"
    assert uids(client.get(path).data) == uids(response.data)  # stable: a calendar updates in place

    provider_feed = client.get(new_feed(client, parties["provider"])).data
    assert mine <= set(uids(provider_feed))


def test_the_secret_is_shown_once_stored_hashed_and_a_revoked_one_is_refused_and_recorded(client, parties):
    path = new_feed(client, parties["risk"])
    secret = path.rsplit("/", 1)[1].removesuffix(".ics")
    row = CalendarFeed.get()
    assert secret not in (row.secret_hash, row.prefix) and len(row.secret_hash) == 64
    listed = client.get("/api/v1/calendar-feeds", headers=bearer(parties["risk"])).get_json()["items"]
    assert listed[0]["id"] == row.id and "url" not in listed[0]
    assert client.post("/api/v1/calendar-feeds", headers=bearer(parties["risk"])).status_code == 409  # one at a time
    unknown = client.get("/calendar/" + "x" * 43 + ".ics")
    assert client.delete(f"/api/v1/calendar-feeds/{row.id}", headers=bearer(parties["admin"])).status_code == 404
    assert client.delete(f"/api/v1/calendar-feeds/{row.id}", headers=bearer(parties["risk"])).status_code == 200
    revoked = client.get(path)
    assert revoked.status_code == unknown.status_code == 404 and revoked.data == unknown.data
    assert AuditEvent.select().where(AuditEvent.action == "calendar.refused").count() == 1
    assert client.get(new_feed(client, parties["risk"])).status_code == 200  # a new address after revoking


def test_a_deactivated_users_feed_stops_at_once(client, parties):
    path = new_feed(client, parties["risk"])
    deactivate(parties["admin"], parties["risk"].id)
    assert client.get(path).status_code == 404


def test_the_feed_costs_as_many_statements_for_three_engagements_as_for_one(parties):
    risk = parties["risk"]
    with Statements() as one:
        calendar.ics(risk)
    for n in range(2):
        engage(parties["admin"], f"More centre {n}")
    with Statements() as three:
        body = calendar.ics(risk)
    assert three.count == one.count <= 6 and len(uids(body)) > 0  # one statement per kind of event


def test_an_auditors_feed_holds_only_its_grant_and_stops_with_it(client, make_user):
    admin, auditor = make_user("client_admin"), make_user("auditor")
    engagement = create_accepted_engagement(admin, {
        "name": "Granted centre", "provider": "BPO A", "frameworks": ["ISO27001-2022", "CPS234"], "place": "NSW",
        "start_date": (utcnow().date() - dt.timedelta(days=10)).isoformat()})
    now = dt.datetime.now(dt.UTC)
    grant = client.post(f"/api/v1/engagements/{engagement.id}/auditor-grants", headers=bearer(admin), json={
        "auditor_email": auditor.email, "frameworks": ["CPS234"],
        "starts_at": (now - dt.timedelta(hours=1)).isoformat(), "expires_at": (now + dt.timedelta(days=2)).isoformat()})
    assert grant.status_code == 201, grant.get_json()
    path = new_feed(client, auditor)
    events = Calendar.from_ical(client.get(path).data).walk("VEVENT")
    shown = "\n".join(str(e.get("DESCRIPTION", "")) for e in events)
    cps234 = {c.code for c in Control.select().where(Control.id.in_(scope.controls_in_frameworks(["CPS234"])))}
    named = set(re.findall(r"^([A-Z]+-\d+) ", shown, flags=re.M))
    assert events and named and named <= cps234  # no control of a framework outside the grant
    client.delete(f"/api/v1/auditor-grants/{grant.get_json()['id']}", headers=bearer(admin))
    assert Calendar.from_ical(client.get(path).data).walk("VEVENT") == []


def test_meetings_and_open_actions_are_in_the_parties_feeds_never_an_auditors_or_another_tenants(
        client, parties, make_user):
    engagement, risk = parties["engagement"], parties["risk"]
    tick(now=utcnow())  # the default forums of both tenants and their first meetings
    ours = list(Meeting.select().where(Meeting.engagement == engagement.id).order_by(Meeting.scheduled_for))
    theirs = Meeting.get(Meeting.engagement == parties["elsewhere"].id)
    weekly = next(m for m in ours if m.forum.tier == "operational")
    due = (utcnow().date() + dt.timedelta(days=5)).isoformat()
    created = [client.post(f"/api/v1/meetings/{weekly.id}/actions", headers=bearer(risk), json={
        "title": title, "owner": parties["provider"].email, "due_date": due}) for title in ("Roster", "Done already")]
    assert all(r.status_code == 201 for r in created), [r.get_json() for r in created]
    action, done = (r.get_json()["id"] for r in created)
    assert client.patch(f"/api/v1/actions/{done}", headers=bearer(risk), json={"status": "done"}).status_code == 200
    cancelled = next(m for m in ours if m.forum.tier == "executive")
    meetings.cancel_meeting(parties["admin"], cancelled.id, {"reason": "Steering moved to the Board offsite"})

    for user in (risk, parties["provider"]):
        events = {str(e["UID"]): e for e in Calendar.from_ical(client.get(new_feed(client, user)).data)
                  .walk("VEVENT")}
        assert {f"meeting-{m.id}@attest" for m in ours} <= set(events)
        assert f"meeting-{theirs.id}@attest" not in events  # another tenant's forum
        meeting = events[f"meeting-{weekly.id}@attest"]
        assert meeting.decoded("DTSTART") == weekly.scheduled_for.replace(tzinfo=dt.UTC)
        assert meeting.decoded("DTEND") - meeting.decoded("DTSTART") == dt.timedelta(hours=1)
        assert str(meeting["STATUS"]) == "CONFIRMED" and weekly.forum.name in str(meeting["SUMMARY"])
        assert str(events[f"meeting-{cancelled.id}@attest"]["STATUS"]) == "CANCELLED"
        assert events[f"action-{action}@attest"].decoded("DTSTART") == dt.date.fromisoformat(due)
        assert str(events[f"action-{action}@attest"]["SUMMARY"]) == "Action due: Roster"
        assert str(events[f"action-{action}@attest"]["URL"]).endswith(f"/meetings/{weekly.id}")
        assert f"action-{done}@attest" not in events  # done: off the calendar

    auditor = make_user("auditor")
    now = dt.datetime.now(dt.UTC)
    assert client.post(f"/api/v1/engagements/{engagement.id}/auditor-grants", headers=bearer(parties["admin"]), json={
        "auditor_email": auditor.email, "frameworks": ["ISO27001-2022"],
        "starts_at": (now - dt.timedelta(hours=1)).isoformat(),
        "expires_at": (now + dt.timedelta(days=2)).isoformat()}).status_code == 201
    seen = uids(client.get(new_feed(client, auditor)).data)
    assert seen and not [u for u in seen if u.startswith(("meeting-", "action-"))]  # the parties' governance only


def test_an_unchanged_feed_answers_304_without_being_built_and_a_change_rebuilds_it(client, parties, monkeypatch):
    path = new_feed(client, parties["risk"])
    first = client.get(path)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag
    built = []
    monkeypatch.setattr(calendar, "ics", lambda user, now=None: built.append(user) or b"")
    with Statements() as poll:
        again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert built == [] and poll.count <= 3  # the feed's owner, and the newest change
    monkeypatch.undo()
    engage(parties["admin"], "A new centre")  # a change: the poll gets the new feed
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag and b"A new centre" in changed.data
    other = client.get(new_feed(client, parties["provider"]), headers={"If-None-Match": changed.headers["ETag"]})
    assert other.status_code == 200  # another user's feed never matches this one's ETag


def test_a_days_event_names_its_first_requests_and_a_capped_feed_says_so(parties, monkeypatch):
    risk, engagement = parties["risk"], parties["engagement"]
    body = calendar.ics(risk)
    events = Calendar.from_ical(body).walk("VEVENT")
    assert all(str(e.get("DESCRIPTION", "")).count("request #") <= calendar.SHOWN for e in events)
    assert b"capped-" not in body and b"X-WR-CALDESC" not in body
    monkeypatch.setattr(calendar, "LIMIT", 1)
    capped = Calendar.from_ical(calendar.ics(risk))
    note = [e for e in capped.walk("VEVENT") if str(e["UID"]).startswith("capped-")]
    assert len(note) == 1 and "evidence requests" in str(note[0]["SUMMARY"])
    assert "Capped" in str(capped["X-WR-CALDESC"])
    assert len([e for e in capped.walk("VEVENT") if str(e["UID"]).startswith(f"due-{engagement.id}-")]) == 1


def test_an_unconditional_poll_gets_the_body_built_for_this_version_and_never_another_users(
        client, parties, monkeypatch):
    risk_path, provider_path = new_feed(client, parties["risk"]), new_feed(client, parties["provider"])
    first = client.get(risk_path)
    built = []
    real = calendar.ics
    monkeypatch.setattr(calendar, "ics", lambda user, now=None: built.append(user.id) or real(user, now))
    again = client.get(risk_path)  # a client that never sends If-None-Match
    assert again.status_code == 200 and again.data == first.data and built == []
    provider = client.get(provider_path)
    assert built == [parties["provider"].id] and provider.data != first.data  # keyed by the address
    engage(parties["admin"], "Another centre")  # a change: a new version, built afresh
    changed = client.get(risk_path)
    assert built[-1] == parties["risk"].id and b"Another centre" in changed.data
    client.delete(f"/api/v1/calendar-feeds/{CalendarFeed.get(CalendarFeed.user == parties['risk'].id).id}",
                  headers=bearer(parties["risk"]))
    assert client.get(risk_path).status_code == 404  # a revoked address never reaches a kept body
