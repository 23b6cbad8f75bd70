"""The service provider register in a real browser: the provider proposes an offshore sub-contractor, the
client is stopped by the APRA gate, records the notice, approves, and sees the APP 8 recipient."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from models import Engagement, Subcontractor
from services.register.engagements import create_accepted_engagement
from tests.test_browser import _serious, sign_in

pytestmark = pytest.mark.browser


def _sign_out(page) -> None:
    page.context.clear_cookies()


def test_register_workflow_in_the_browser(browser_page, make_user):
    from axe_playwright_python.sync_playwright import Axe
    page, axe = browser_page, Axe()
    client_admin, provider_admin = make_user("client_admin"), make_user("provider_admin")
    engagement = create_accepted_engagement(client_admin, {
        "name": "Offshore overflow", "provider": "BPO A", "frameworks": ["CPS230", "PRIVACY-AU", "CONTRACT"],
        "place": "NSW", "start_date": (dt.date.today() - dt.timedelta(days=30)).isoformat()})
    register_url = f"/engagements/{engagement.id}/subcontractors"

    sign_in(page, provider_admin)
    page.wait_for_url(re.compile(r"/$"))
    page.goto(register_url)
    page.get_by_label("Name").fill("Cebu Night Desk")
    page.get_by_label("Services").fill("Overnight calls, Email replies")
    page.get_by_label("Critical operations supported").fill("Customer enquiries")
    page.get_by_label("Countries where data is held or accessed").fill("PH, ZZ")
    page.get_by_label("Personal information it receives").fill("Names and account numbers")
    page.get_by_label("Material (supports a critical operation)").check()
    page.get_by_label("Receives personal information").check()
    page.get_by_label("Agreement date").fill((dt.date.today() - dt.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Propose").click()
    assert "unknown country code 'ZZ'" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Countries where data is held or accessed").get_attribute("aria-invalid") == "true"
    assert Subcontractor.select().count() == 0
    page.get_by_label("Countries where data is held or accessed").fill("PH")
    page.get_by_role("button", name="Propose").click()
    page.wait_for_url(re.compile(register_url + "$"))
    row = page.locator("#register tr[data-subcontractor]")
    assert "Cebu Night Desk" in row.inner_text() and "Proposed" in row.inner_text()
    assert "CONTRACT-SUBCON running" in row.inner_text() and "Awaiting APRA notice" in row.inner_text()
    assert page.get_by_role("button", name="Approve").count() == 0  # the provider cannot decide
    assert _serious(axe.run(page), register_url) == []

    _sign_out(page)
    sign_in(page, client_admin)
    page.wait_for_url(re.compile(r"/$"))
    page.goto(register_url)
    page.get_by_label("Reason").fill("Due diligence complete")
    page.get_by_role("button", name="Approve").click()
    assert "cannot be approved before APRA has been notified" in page.get_by_role("alert").inner_text()
    assert Subcontractor.get().status == "proposed"
    # APRA is told before the arrangement is entered into (CPS 230 para 59(b)): two days ago, the agreement yesterday
    page.get_by_label("APRA notified on").fill((dt.date.today() - dt.timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Record APRA notice").click()
    page.wait_for_url(re.compile(register_url + "$"))
    page.get_by_label("Reason").fill("Due diligence and APP 8 clauses complete")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(register_url + "$"))
    row = page.locator("#register tr[data-subcontractor]")
    assert "Approved" in row.inner_text() and "CPS230-ARRANGEMENT running" in row.inner_text()
    assert page.locator("#offshore-flag").inner_text() == "Yes"
    recipients = page.locator("#recipients-table").inner_text()
    assert "Cebu Night Desk" in recipients and "Philippines (PH)" in recipients
    assert "Names and account numbers" in recipients and "Open" in recipients
    assert Engagement.get_by_id(engagement.id).offshore is True
    assert _serious(axe.run(page), register_url) == []

    page.goto(f"/engagements/{engagement.id}/soa")
    assert "Cebu Night Desk" in page.locator("#soa-register-table").inner_text()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Service providers").click()
    page.wait_for_url(re.compile(r"/subcontractors$"))
    assert "Cebu Night Desk" in page.locator("#register-all").inner_text()
    assert _serious(axe.run(page), "/subcontractors") == []
