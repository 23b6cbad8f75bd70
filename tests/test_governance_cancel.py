"""Cancelling a scheduled meeting (with a reason; its agenda kept as it stood; the forum's next meeting still
scheduled on its cadence; audited; calendars show it cancelled), and the engagement's performance reports listed
(scoped, paged) through the API."""
from __future__ import annotations

import datetime as dt

from icalendar import Calendar

from models import AuditEvent, Meeting, PerformanceReport, utcnow
from services.alerts.scheduler import tick
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer, login
from tests.test_governance import FRAMEWORKS, error, forum, next_meeting
from tests.test_governance import gov as gov  # noqa: F401 (the fixture)
from tests.test_integrations_calendar import new_feed
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)


def _stranger(make_user):
    admin = make_user("client_admin", org="Bank B")
    create_accepted_engagement(
        admin, {"name": "Elsewhere", "provider": "BPO B", "frameworks": FRAMEWORKS, "place": "VIC",
                              "start_date": (dt.date.today() - dt.timedelta(days=30)).isoformat()})
    return bearer(admin)


def test_a_cancelled_meeting_keeps_its_agenda_and_the_cadence_goes_on(client, gov, spec, make_user):
    weekly = forum(client, gov, "operational")
    meeting = next_meeting(weekly)
    url = f"/api/v1/meetings/{meeting.id}/cancel"
    error(client.post(url, json={}, headers=gov["client"]), 422, "reason")
    error(client.post(url, json={"reason": "   "}, headers=gov["client"]), 422, "reason")
    for garbage in (None, 7, True, [], ["x"], {"a": 1}, "x" * 2001):
        error(client.post(url, json={"reason": garbage}, headers=gov["client"]), 422, "reason")
    for body in ([], "text", 3):
        assert client.post(url, json=body, headers=gov["client"]).status_code in (400, 422)
    stranger = _stranger(make_user)
    foreign = client.post(url, json={"reason": "x"}, headers=stranger)
    missing = client.post("/api/v1/meetings/99999999/cancel", json={"reason": "x"}, headers=stranger)
    assert foreign.status_code == missing.status_code == 404 and foreign.get_json() == missing.get_json()
    assert Meeting.get_by_id(meeting.id).status == "scheduled"

    response = client.post(url, json={"reason": "Public holiday: the site is closed"}, headers=gov["provider"])
    cancelled = Contract(spec).check(response, "post", "/api/v1/meetings/{meeting_id}/cancel")
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"]
    assert cancelled["cancel_reason"] == "Public holiday: the site is closed"
    frozen = cancelled["agenda"]
    client.post(f"/api/v1/engagements/{gov['engagement'].id}/change-requests", headers=gov["provider"],
                json={"title": "Add Vietnamese language line", "kind": "new_language"})
    after = client.get(f"/api/v1/meetings/{meeting.id}", headers=gov["client"]).get_json()
    assert after["agenda"] == frozen and after["agenda"]["change_requests"]["count"] == 0
    event = AuditEvent.get(AuditEvent.action == "meeting.cancelled", AuditEvent.object_id == str(meeting.id))
    assert "Public holiday" in event.details
    error(client.post(url, json={"reason": "again"}, headers=gov["client"]), 409)
    error(client.post(f"/api/v1/meetings/{meeting.id}/decisions", headers=gov["client"],
                      json={"kind": "other", "text": "x"}), 409)

    tick(now=utcnow())  # the cadence goes on: the forum's next meeting, after the cancelled one
    following = next_meeting(weekly)
    assert following is not None and following.scheduled_for > meeting.scheduled_for

    feed = Calendar.from_ical(client.get(new_feed(client, gov["admin"])).data)
    events = {str(e["UID"]): str(e.get("STATUS")) for e in feed.walk("VEVENT")}
    assert events[f"meeting-{meeting.id}@attest"] == "CANCELLED"
    assert events[f"meeting-{following.id}@attest"] == "CONFIRMED"


def test_the_meeting_page_asks_for_a_reason(client, gov, app):
    meeting = next_meeting(forum(client, gov, "performance"))
    web = app.test_client()
    login(web, gov["admin"])
    page = web.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = web.post(f"/meetings/{meeting.id}/cancel", data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 422 and Meeting.get_by_id(meeting.id).status == "scheduled"
    done = web.post(f"/meetings/{meeting.id}/cancel", data={"csrf_token": token, "reason": "Chair on leave"})
    assert done.status_code == 302
    shown = web.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    assert "Chair on leave" in shown and "As it stood when the meeting was cancelled" in shown


def test_an_engagements_reports_are_listed_scoped_and_paged(client, gov, spec, make_user):
    engagement, today = gov["engagement"], dt.date.today()
    url = f"/api/v1/engagements/{engagement.id}/reports"
    ids = [client.post(url, headers=gov["client"], json={
        "period_start": (today - dt.timedelta(days=days)).isoformat(), "period_end": today.isoformat()})
        .get_json()["id"] for days in (90, 30)]
    PerformanceReport.update(status="failed", error="renderer gone").where(PerformanceReport.id == ids[0]).execute()
    page = Contract(spec).check(client.get(f"{url}?per_page=1", headers=gov["client"]), "get",
                                "/api/v1/engagements/{engagement_id}/reports")
    assert [r["id"] for r in page["items"]] == [ids[1]] and (page["total"], page["pages"]) == (2, 2)
    second = client.get(f"{url}?per_page=1&page=2", headers=gov["client"]).get_json()
    assert [r["id"] for r in second["items"]] == [ids[0]]
    failed = client.get(f"{url}?status=failed", headers=gov["provider"]).get_json()
    assert [(r["id"], r["error"]) for r in failed["items"]] == [(ids[0], "renderer gone")]
    error(client.get(f"{url}?status=lost", headers=gov["client"]), 422, "status")
    error(client.get(f"{url}?per_page=500", headers=gov["client"]), 400)
    stranger = _stranger(make_user)
    foreign = client.get(url, headers=stranger)
    missing = client.get("/api/v1/engagements/99999999/reports", headers=stranger)
    assert foreign.status_code == missing.status_code == 404 and foreign.get_json() == missing.get_json()


def test_a_new_cadence_cancels_the_meetings_ahead_with_its_reason(client, gov):
    weekly = forum(client, gov, "operational")
    ahead = next_meeting(weekly)
    changed = client.patch(f"/api/v1/forums/{weekly['id']}", json={"cadence": "P2W"}, headers=gov["client"])
    assert changed.status_code == 200, changed.get_json()
    body = client.get(f"/api/v1/meetings/{ahead.id}", headers=gov["client"]).get_json()
    assert body["status"] == "cancelled" and body["cancelled_at"] and "cadence changed" in body["cancel_reason"]
