"""In headless Chromium at 390 px and 1280 px: the risk team voids a finding and an incident recorded by mistake
from their pages (the void forms fit the screen), the pages show them void with local times and offsets, and
axe-core finds no violation. Screenshots of each page at both widths go to the test's temporary directory."""
from __future__ import annotations

import re

import pytest

from models import Finding, Incident
from services.incidents.findings import raise_finding
from tests.test_layout_browser import LAPTOP, PHONE, _overflow, _signed_in, _violations
from tests.test_layout_browser import world as world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [PHONE, LAPTOP])
def test_the_risk_team_voids_a_finding_and_an_incident_on_their_pages(chromium, live_server, world, width,
                                                                      tmp_path):
    engagement, incident = world["engagement"], world["incident"]
    finding = raise_finding(engagement, source="manual", title="Raised twice by a double click",
                            raised_by=world["users"]["risk_reviewer"])
    context, page = _signed_in(chromium, live_server, world["users"]["risk_reviewer"], width)
    problems, wide = [], []

    def check(path: str) -> None:
        page.screenshot(path=str(tmp_path / f"{re.sub(r'[^a-z0-9]+', '_', path)}_{width}.png"), full_page=True)
        if _overflow(page) > 1:
            wide.append(f"{path}: {_overflow(page)} px wider than {width}")
        problems.extend(_violations(page, path))
    try:
        page.goto(f"/findings/{finding.id}")
        page.get_by_label("Why it is void").fill("The same finding was raised twice")
        check(f"/findings/{finding.id}")
        page.get_by_role("button", name="Void the finding").click()
        page.wait_for_url(re.compile(rf"/findings/{finding.id}$"))
        assert page.locator(".badge-finding-void").is_visible()
        check(f"/findings/{finding.id} void")
        page.goto(f"/incidents/{incident.id}")
        page.get_by_label("Why it is void").fill("A tabletop exercise entered as a real outage")
        button = page.get_by_role("button", name="Void the incident")
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
        check(f"/incidents/{incident.id}")
        button.click()
        page.wait_for_url(re.compile(rf"/incidents/{incident.id}$"))
        head = page.locator(".page-head").inner_text()
        assert "Void" in head and re.search(r"\((\+1[01]:00)\)", head), head  # the time with its offset
        assert not page.locator(".countdown").count()  # no clock runs any more
        check(f"/incidents/{incident.id} void")
        page.goto(f"/engagements/{engagement.id}/incidents")
        assert page.locator(".badge-void").count() == 1
        check(f"/engagements/{engagement.id}/incidents")
        page.goto("/notifications")
        check("/notifications")
    finally:
        context.close()
    assert Finding.get_by_id(finding.id).status == "void" and Incident.get_by_id(incident.id).voided_at is not None
    assert wide == []
    assert problems == []
