"""The governance pages on a phone (390 px) and a laptop (1280 px) in headless Chromium: nothing wider than the
screen and no axe-core violation, for the engagement's governance page, meetings (the executive one with its report
form and a report building), a cancelled meeting, the action log, a change request, exit readiness and the
commercial view with an approved change's prices."""
from __future__ import annotations

import datetime as dt

import pytest

from models import Forum, Meeting, PerformanceReport, utcnow
from services.alerts.scheduler import tick
from services.governance import changes, meetings
from services.register.engagements import create_accepted_engagement
from tests.test_governance import FRAMEWORKS
from tests.test_layout_browser import LAPTOP, PHONE, _overflow, _signed_in, _violations

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [PHONE, LAPTOP])
def test_governance_pages_fit_the_screen_and_pass_axe(chromium, live_server, make_user, width):
    admin, provider = make_user("client_admin"), make_user("provider_admin")
    engagement = create_accepted_engagement(admin,
            {"name": "Governed centre", "provider": "BPO A", "frameworks": FRAMEWORKS,
                                           "place": "NSW",
                                           "start_date": (dt.date.today() - dt.timedelta(days=40)).isoformat()})
    tick(now=utcnow())
    meeting = Meeting.select().where(Meeting.engagement == engagement.id).order_by(Meeting.scheduled_for).first()
    meetings.add_action(admin, meeting.id, {"title": "Publish the holiday roster with a long descriptive title",
                                            "owner": provider.email,
                                            "due_date": (dt.date.today() - dt.timedelta(days=1)).isoformat()})
    executive = (Meeting.select().join(Forum).where(Meeting.engagement == engagement.id, Forum.tier == "executive")
                 .first())
    row = changes.propose(provider, engagement.id, {"title": "Add a Vietnamese language line", "kind": "new_language"})
    agreed = changes.propose(provider, engagement.id, {"title": "Web chat channel at weekends", "kind": "new_channel"})
    changes.price(provider, agreed.id, {"one_off_price": "12500.00", "monthly_price": "3400.10"})
    changes.decide(admin, agreed.id, {"decision": "approve", "reason": "Within the change budget"})
    today = dt.date.today()
    PerformanceReport.create(engagement=engagement.id, meeting=executive.id, period_start=today - dt.timedelta(days=30),
                             period_end=today, status="building", progress=40, claimed_by="elsewhere:1",
                             claimed_at=utcnow())
    monthly = (Meeting.select().join(Forum).where(Meeting.engagement == engagement.id, Forum.tier == "performance")
               .first())
    meetings.cancel_meeting(admin, monthly.id, {"reason": "The chair is on leave; the risks wait for next month"})
    context, page = _signed_in(chromium, live_server, admin, width)
    problems, wide = [], []
    try:
        for path in (f"/engagements/{engagement.id}/governance", f"/meetings/{meeting.id}",
                     f"/meetings/{executive.id}", f"/meetings/{monthly.id}", "/actions", f"/change-requests/{row.id}",
                     f"/engagements/{engagement.id}/performance",
                     f"/engagements/{engagement.id}/exit-readiness", "/exit-readiness"):
            assert page.goto(path).status == 200, path
            if _overflow(page) > 1:
                wide.append(f"{path}: {_overflow(page)} px wider than {width}")
            problems += _violations(page, path)
    finally:
        context.close()
    assert wide == [], "\n".join(wide)
    assert problems == [], "\n".join(problems)
