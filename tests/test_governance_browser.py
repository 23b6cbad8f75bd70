"""The governance pages on a phone (390 px) and a laptop (1280 px) in headless Chromium: nothing wider than the
screen and no axe-core violation, for the engagement's governance page, meetings (the executive one with its report
form), the action log, a change request and exit readiness."""
from __future__ import annotations

import datetime as dt

import pytest

from models import Forum, Meeting, utcnow
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
    context, page = _signed_in(chromium, live_server, admin, width)
    problems, wide = [], []
    try:
        for path in (f"/engagements/{engagement.id}/governance", f"/meetings/{meeting.id}",
                     f"/meetings/{executive.id}", "/actions", f"/change-requests/{row.id}",
                     f"/engagements/{engagement.id}/exit-readiness", "/exit-readiness"):
            assert page.goto(path).status == 200, path
            if _overflow(page) > 1:
                wide.append(f"{path}: {_overflow(page)} px wider than {width}")
            problems += _violations(page, path)
    finally:
        context.close()
    assert wide == [], "\n".join(wide)
    assert problems == [], "\n".join(problems)
