"""Calendar feeds: a user's secret .ics address (shown once, stored hashed, revocable) that a calendar client
parses, listing what the user's pages show, with stable UIDs, in a fixed number of statements."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from conftest import bearer
from icalendar import Calendar

from models import AuditEvent, CalendarFeed, Clock, EvidenceRequest, Finding, Incident, utcnow
from services.integrations import calendar
from services.people.users import deactivate
from services.register.engagements import create_engagement
from tests.test_planning import Statements


def engage(admin, name: str, provider: str = "BPO A"):
    today = utcnow().date()
    return create_engagement(admin, {"name": name, "provider": provider, "frameworks": ["ISO27001-2022"],
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
    some = EvidenceRequest.get(EvidenceRequest.engagement == engagement.id,
                               EvidenceRequest.status.in_(calendar.OPEN_REQUESTS), EvidenceRequest.due_at > utcnow())
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
    assert three.count == one.count <= 4 and len(uids(body)) > 0
