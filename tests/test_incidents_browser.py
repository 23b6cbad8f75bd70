"""In a real browser (Chromium via Playwright): record an incident through the form and watch its clock count
down in the engagement's timezone; the incident pages pass axe-core."""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from services.register.engagements import create_accepted_engagement
from tests.test_browser import _serious, sign_in


def test_recording_an_incident_shows_a_live_countdown(browser_page, make_user):
    from axe_playwright_python.sync_playwright import Axe
    admin = make_user("client_admin")
    engagement = create_accepted_engagement(admin,
            {"name": "Browser centre", "provider": "BPO A", "frameworks": ["CPS234"],
                                           "place": "NSW", "start_date": "2026-01-01"})
    sign_in(browser_page, admin)
    browser_page.wait_for_url(re.compile(r"/$"))
    browser_page.goto(f"/engagements/{engagement.id}/incidents/new")
    sydney = dt.datetime.now(ZoneInfo("Australia/Sydney"))
    browser_page.get_by_label("Title").fill("Agent mailbox phished")
    browser_page.get_by_label("Category").select_option("security_incident")
    browser_page.get_by_label("Occurred at").fill((sydney - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    browser_page.get_by_label("Became aware at").fill((sydney - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    browser_page.get_by_label("The client", exact=True).check()
    browser_page.get_by_label("Material", exact=True).check()
    browser_page.get_by_role("button", name="Record incident").click()
    browser_page.wait_for_url(re.compile(r"/incidents/\d+$"))
    row = browser_page.locator("#clock-CPS234-35")
    countdown = row.locator(".countdown")
    first = countdown.inner_text()
    assert re.fullmatch(r"2d 2[23]h \d\dm \d\ds left", first), first  # about 71 hours left
    browser_page.wait_for_timeout(1500)
    assert countdown.inner_text() != first  # it is live
    assert "(+11:00)" in row.inner_text() or "(+10:00)" in row.inner_text()  # the deadline in Sydney time
    axe = Axe()
    problems = _serious(axe.run(browser_page), browser_page.url)
    for url in (f"/engagements/{engagement.id}/incidents", f"/engagements/{engagement.id}/findings", "/findings",
                f"/engagements/{engagement.id}/changes", "/notifications", f"/engagements/{engagement.id}"):
        browser_page.goto(url)
        problems += _serious(axe.run(browser_page), url)
    assert problems == []
