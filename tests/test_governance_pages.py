"""Governance pages without a browser: the engagement's governance page, a meeting held through its forms, a
change request priced, approved and implemented through its page, and the action log with its exports."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from icalendar import Calendar
from openpyxl import load_workbook

from models import Action, ChangeRequest, Meeting, utcnow
from services.alerts.scheduler import tick
from services.governance import changes, meetings
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer, csv_text, login
from tests.test_governance import FRAMEWORKS, upload_minutes


@pytest.fixture
def world(app, make_user):
    admin, provider = make_user("client_admin"), make_user("provider_admin")
    contributor = make_user("provider_contributor")
    engagement = create_accepted_engagement(admin,
            {"name": "Pages centre", "provider": "BPO A", "frameworks": FRAMEWORKS,
                                           "place": "NSW", "card_payments": True,
                                           "start_date": (dt.date.today() - dt.timedelta(days=75)).isoformat()})
    tick(now=utcnow())
    client_side, provider_side = app.test_client(), app.test_client()
    login(client_side, admin)
    login(provider_side, provider)
    return {"engagement": engagement, "admin": admin, "provider": provider, "client": client_side,
            "provider_client": provider_side, "contributor": bearer(contributor)}


def csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_a_meeting_is_held_with_decisions_and_actions_through_its_page(client, world):
    engagement, web = world["engagement"], world["client"]
    page = web.get(f"/engagements/{engagement.id}/governance")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for name in ("Weekly operational review", "Monthly performance and risk review", "Quarterly executive steering"):
        assert name in text
    meeting = (Meeting.select().where(Meeting.engagement == engagement.id).order_by(Meeting.scheduled_for).first())
    path = f"/meetings/{meeting.id}"
    shown = web.get(path).get_data(as_text=True)
    assert "Overdue evidence requests" in shown and "Built from live data now" in shown
    token = csrf(web, path)
    due = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    raised = web.post(f"{path}/action", data={"csrf_token": token, "title": "Re-forecast Monday",
                                              "owner": world["provider"].email, "due_date": due})
    assert raised.status_code == 302 and Action.select().where(Action.meeting == meeting.id).count() == 1
    refused = web.post(f"{path}/action", data={"csrf_token": token, "title": "Other", "owner": "x@y.example",
                                               "due_date": due})
    assert refused.status_code == 422 and "not a user of this engagement" in refused.get_data(as_text=True)
    assert web.post(f"{path}/decision", data={"csrf_token": token, "kind": "workforce_plan",
                                              "text": "Approve the December roster"}).status_code == 302
    minutes = upload_minutes(client, {"contributor": world["contributor"], "engagement": engagement}, meeting)
    held = web.post(f"{path}/held", data={"csrf_token": token, "attendees": [world["admin"].email],
                                          "minutes_evidence_id": str(minutes)})
    assert held.status_code == 302
    assert Meeting.get_by_id(meeting.id).status == "held"
    after = web.get(path).get_data(as_text=True)
    assert "As it stood when the meeting was held" in after and "Approve the December roster" in after
    again = web.post(f"{path}/held", data={"csrf_token": token, "attendees": [world["admin"].email],
                                           "minutes_evidence_id": str(minutes)})
    assert again.status_code == 409

    ics = web.get(f"/engagements/{engagement.id}/meetings.ics")
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    calendar = Calendar.from_ical(ics.data)
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert f"meeting-{meeting.id}@attest" in events and len(events) == 3  # one upcoming per forum, this one held
    assert events[f"meeting-{meeting.id}@attest"].decoded("dtstart") == meeting.scheduled_for.replace(tzinfo=dt.UTC)


def test_a_change_request_moves_through_its_page_and_the_action_log_exports(world):
    engagement, web, provider_web = world["engagement"], world["client"], world["provider_client"]
    base = f"/engagements/{engagement.id}/governance"
    proposed = web.post(base, data={"csrf_token": csrf(web, base), "title": "Add Mandarin line",
                                    "kind": "new_language"})
    assert proposed.status_code == 302
    row = ChangeRequest.get(ChangeRequest.title == "Add Mandarin line")
    path = f"/change-requests/{row.id}"
    assert "Price this change" not in web.get(path).get_data(as_text=True)  # the client does not price
    assert "Price this change" in provider_web.get(path).get_data(as_text=True)
    bad = provider_web.post(path, data={"csrf_token": csrf(provider_web, path), "step": "price",
                                        "one_off_price": "ten", "monthly_price": "1.00"})
    assert bad.status_code == 422 and ChangeRequest.get_by_id(row.id).status == "proposed"
    assert provider_web.post(path, data={"csrf_token": csrf(provider_web, path), "step": "price",
                                         "one_off_price": "8000", "monthly_price": "1250.50"}).status_code == 302
    assert web.post(path, data={"csrf_token": csrf(web, path), "step": "decision", "decision": "approve",
                                "reason": "Budgeted"}).status_code == 302
    assert changes.approved_monthly_total(engagement) == ChangeRequest.get_by_id(row.id).monthly_price
    assert "1250.50" in web.get(base).get_data(as_text=True)
    assert provider_web.post(path, data={"csrf_token": csrf(provider_web, path), "step": "implemented"}
                             ).status_code == 302
    assert ChangeRequest.get_by_id(row.id).status == "implemented"

    meeting = Meeting.select().where(Meeting.engagement == engagement.id).first()
    meetings.add_action(world["admin"], meeting.id, {"title": "=HYPERLINK(\"x\")", "owner": world["admin"].email,
                                                     "due_date": (dt.date.today() - dt.timedelta(days=1)).isoformat()})
    log = web.get("/actions?overdue=1").get_data(as_text=True)
    assert "HYPERLINK" in log and "Overdue" in log
    exported = web.get(f"/actions.csv?engagement={engagement.id}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(csv_text(exported.get_data(as_text=True)))))
    assert rows[0][:3] == ["Engagement", "Tier", "Action"] and rows[1][2].startswith("'=")  # no formula
    book = load_workbook(io.BytesIO(web.get("/actions.xlsx").data))
    assert book.active.max_row == 2
    assert web.get("/actions?tier=board").status_code == 200  # a bad filter is shown, not a 500
