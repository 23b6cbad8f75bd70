"""Incident, finding, change and notification pages: usable without JavaScript, forms with CSRF, scope."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from models import Engagement, Finding, Incident, Notification
from services.messages import notifications
from services.register.engagements import create_accepted_engagement
from tests.conftest import login

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def signed_in(client, make_user):
    admin = make_user("client_admin")
    engagement = create_accepted_engagement(admin,
            {"name": "Page centre", "provider": "BPO A", "frameworks": ["CPS234"],
                                           "place": "NSW", "start_date": "2026-01-01"})
    login(client, admin)
    return client, admin, engagement


def local_form_time(delta: dt.timedelta) -> str:
    from zoneinfo import ZoneInfo
    return (NOW - delta).astimezone(ZoneInfo("Australia/Sydney")).strftime("%Y-%m-%dT%H:%M")


def test_recording_an_incident_by_form_starts_its_clocks_and_the_page_shows_them(signed_in):
    client, _admin, engagement = signed_in
    form_page = client.get(f"/engagements/{engagement.id}/incidents/new").get_data(as_text=True)
    response = client.post(f"/engagements/{engagement.id}/incidents/new", data={
        "csrf_token": token(form_page), "title": "Agent mailbox phished", "category": "security_incident",
        "occurred_at": local_form_time(dt.timedelta(hours=3)), "aware_at": local_form_time(dt.timedelta(hours=2)),
        "aware_party": "client", "flags": ["material"]})
    assert response.status_code == 302, response.get_data(as_text=True)
    incident = Incident.get()
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "CPS234-35" in page and "72 elapsed hours" in page and 'class="countdown"' in page
    assert "clocks.js" in page and "<script>" not in page  # no inline script (CSP)
    listing = client.get(f"/engagements/{engagement.id}/incidents").get_data(as_text=True)
    assert incident.title in listing
    # a bad form re-renders with the error and records nothing
    bad = client.post(f"/engagements/{engagement.id}/incidents/new", data={
        "csrf_token": token(form_page), "title": "Late", "category": "security_incident",
        "occurred_at": local_form_time(dt.timedelta(hours=1)), "aware_at": local_form_time(dt.timedelta(hours=2)),
        "aware_party": "client"})
    assert bad.status_code == 422 and "aware_at cannot be before occurred_at" in bad.get_data(as_text=True)
    assert Incident.select().count() == 1
    notice = client.post(f"/incidents/{incident.id}/clocks/CPS234-35/notice", data={
        "csrf_token": token(page), "notified_at": local_form_time(dt.timedelta(minutes=30))})
    assert notice.status_code == 302
    assert "Met" in client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert client.post(f"/incidents/{incident.id}/clocks/CPS234-35/notice",
                       data={"notified_at": local_form_time(dt.timedelta(minutes=20))}).status_code == 400  # no CSRF


def test_the_engagement_page_warns_when_the_notice_hours_do_not_fit_the_shortest_clock(signed_in):
    client, _admin, engagement = signed_in
    Engagement.update(contract_notice_hours=72).where(Engagement.id == engagement.id).execute()
    page = client.get(f"/engagements/{engagement.id}").get_data(as_text=True)
    assert "is not shorter than the shortest regulatory clock" in page  # 72 h vs the client-awareness 72 h
    Engagement.update(contract_notice_hours=12).where(Engagement.id == engagement.id).execute()
    assert "shortest regulatory clock" not in client.get(f"/engagements/{engagement.id}").get_data(as_text=True)


def test_findings_changes_and_notifications_pages(signed_in, make_user):
    client, admin, engagement = signed_in
    page = client.get(f"/engagements/{engagement.id}/findings").get_data(as_text=True)
    raised = client.post(f"/engagements/{engagement.id}/findings", data={
        "csrf_token": token(page), "title": "BCP test lacks RTO results", "severity": "high"})
    assert raised.status_code == 302
    finding = Finding.get()
    assert "BCP test lacks RTO results" in client.get("/findings").get_data(as_text=True)
    assert "Next step" not in client.get(f"/findings/{finding.id}").get_data(as_text=True)  # the provider's move
    changes = client.get(f"/engagements/{engagement.id}/changes").get_data(as_text=True)
    assert client.post(f"/engagements/{engagement.id}/changes", data={
        "csrf_token": token(changes), "title": "New CCaaS", "kind": "significant_change",
        "occurred_at": local_form_time(dt.timedelta(hours=1))}).status_code == 302
    notifications.notify([admin.id], "finding_due", "finding", finding.id, "due-1", title="Finding due tomorrow",
                         link=f"/findings/{finding.id}")
    home = client.get("/notifications").get_data(as_text=True)
    assert "Finding due tomorrow" in home and 'class="bell-count"' in home
    note = Notification.get(Notification.kind == "finding_due")
    read = client.post(f"/notifications/{note.id}/read", data={"csrf_token": token(home), "next": "link"})
    assert read.status_code == 302 and read.headers["Location"].endswith(f"/findings/{finding.id}")
    assert Notification.get_by_id(note.id).read_at is not None
    other = make_user("risk_reviewer", org="Bank Z")
    client.post("/logout", data={"csrf_token": token(home)})
    login(client, other)
    assert client.get(f"/findings/{finding.id}").status_code == 404
    assert client.get(f"/engagements/{engagement.id}/incidents").status_code == 404
