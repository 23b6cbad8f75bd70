"""End-to-end tests in headless Chromium (Playwright) against the app served from a thread.

Run with the rest of the suite; they skip only when /usr/bin/chromium is absent and CI is unset.
"""
from __future__ import annotations

import datetime as dt
import os
import re

import peewee as pw
import pytest
from conftest import PASSWORD

from models import Engagement, EvidenceRequest

pytestmark = pytest.mark.browser
DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def sign_in(page, user, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_through_the_form_shows_home_with_role(browser_page, make_user):
    user = make_user("risk_reviewer")
    sign_in(browser_page, user)
    browser_page.wait_for_url(re.compile(r"/$"))
    header = browser_page.locator("header.topbar")
    assert user.email in header.inner_text()
    assert "risk reviewer" in header.inner_text().lower()
    assert browser_page.get_by_role("link", name="New engagement").count() == 0
    assert browser_page.get_by_role("heading", name="Your engagements").is_visible()


def test_wrong_password_shows_the_error_and_stays_signed_out(browser_page, make_user):
    user = make_user("client_admin")
    sign_in(browser_page, user, password="not-the-password")
    alert = browser_page.get_by_role("alert")
    assert "E-mail or password is not right." in alert.inner_text()
    assert browser_page.get_by_label("E-mail").input_value() == user.email
    browser_page.goto("/library")
    assert "/login" in browser_page.url


def test_browse_library_framework_and_control(browser_page, make_user):
    sign_in(browser_page, make_user("provider_contributor"))
    browser_page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    assert browser_page.get_by_role("heading", name="Frameworks").is_visible()
    browser_page.get_by_role("link", name="CPS230", exact=True).click()
    browser_page.wait_for_url(re.compile(r"/library/CPS230$"))
    assert browser_page.get_by_text("2026: ").first.is_visible()
    control_link = browser_page.locator("a.control-link").first
    code = control_link.locator(".mono").inner_text()
    control_link.click()
    browser_page.wait_for_url(re.compile(rf"/controls/{re.escape(code)}$"))
    assert browser_page.get_by_role("heading", name="Evidence requirements").is_visible()
    assert browser_page.get_by_role("heading", name="Obligations this control satisfies").is_visible()
    assert browser_page.get_by_role("link", name="CPS230").first.is_visible()


def test_coverage_matrix_switches_framework(browser_page, make_user):
    sign_in(browser_page, make_user("client_admin"))
    browser_page.get_by_role("link", name="Coverage").click()
    browser_page.wait_for_url(re.compile(r"/coverage"))
    browser_page.wait_for_load_state("load")  # static/attest.js attached before the change event
    browser_page.get_by_label("Framework").select_option("ISO27001-2022")  # auto-submits (static/attest.js)
    browser_page.wait_for_url(re.compile(r"framework=ISO27001-2022"))
    summary = browser_page.locator("#coverage-summary").inner_text()
    assert re.search(r"\d+ obligations", summary) and "covered fully" in summary
    assert browser_page.locator("table.matrix tbody tr").count() > 100
    assert browser_page.locator("table.matrix td.cell-full").count() > 0


def test_create_engagement_through_the_form(browser_page, make_user):
    sign_in(browser_page, make_user("client_admin"))
    browser_page.get_by_role("link", name="New engagement").first.click()
    browser_page.get_by_label("Engagement name").fill("Inbound cards hotline")
    browser_page.get_by_label("Provider organisation").fill("Harbour BPO")
    for code in ("ISO27001-2022", "CPS234", "PCIDSS-4.0.1"):
        browser_page.locator(f'input[name="frameworks"][value="{code}"]').check()
    browser_page.get_by_label("Place (state or territory)").select_option("VIC")
    browser_page.get_by_label("Start date").fill("2025-01-01")
    browser_page.get_by_label("Agents take card payments").check()
    browser_page.get_by_role("button", name="Create engagement").click()
    browser_page.wait_for_url(re.compile(r"/engagements/\d+$"))
    assert "created" in browser_page.get_by_role("status").first.inner_text()
    assert browser_page.get_by_role("heading", name="Inbound cards hotline").is_visible()
    engagement = Engagement.get(Engagement.name == "Inbound cards hotline")
    total = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement).count()
    assert total > 0
    assert f"Evidence requests ({total})" in browser_page.locator("#req-heading").inner_text()
    overdue = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement,
                                             EvidenceRequest.status == "overdue").count()
    assert browser_page.locator('td[data-status="overdue"]').inner_text() == str(overdue)


def test_form_error_keeps_input_and_points_at_the_field(browser_page, make_user):
    sign_in(browser_page, make_user("client_admin"))
    browser_page.goto("/engagements/new")
    browser_page.get_by_label("Engagement name").fill("Backwards")
    browser_page.get_by_label("Provider organisation").fill("Harbour BPO")
    browser_page.locator('input[name="frameworks"][value="CPS234"]').check()
    browser_page.get_by_label("Place (state or territory)").select_option("NSW")
    browser_page.get_by_label("Start date").fill("2025-06-01")
    browser_page.get_by_label("End date").fill("2025-01-01")
    browser_page.get_by_role("button", name="Create engagement").click()
    assert "end_date must be after start_date" in browser_page.locator("#end_date-error").inner_text()
    assert browser_page.get_by_label("End date").get_attribute("aria-invalid") == "true"
    assert browser_page.get_by_label("Engagement name").input_value() == "Backwards"
    assert browser_page.locator('input[name="frameworks"][value="CPS234"]').is_checked()
    assert not Engagement.select().where(Engagement.name == "Backwards").exists()


def _realistic_engagement(admin) -> Engagement:
    """An engagement ~18 months in, with the status mix a live one has (older requests mostly accepted)."""
    from services.register.engagements import create_accepted_engagement
    start = (dt.date.today() - dt.timedelta(days=540)).replace(day=1)
    engagement = create_accepted_engagement(admin, {
        "name": "Retail banking contact centre", "provider": "Harbour Contact Solutions",
        "frameworks": ["ISO27001-2022", "CPS234", "CPS230", "PRIVACY-AU", "PCIDSS-4.0.1", "CONTRACT"],
        "place": "NSW", "timezone": "Australia/Sydney", "start_date": start.isoformat(),
        "contract_ref": "MSA-2024-017", "card_payments": True})
    past = list(EvidenceRequest.select().where(EvidenceRequest.engagement == engagement,
                                               EvidenceRequest.status == "overdue")
                .order_by(EvidenceRequest.due_at, EvidenceRequest.id))
    recent = len(past) - 14
    for i, request in enumerate(past):
        if i < recent:
            status = "rejected" if i % 23 == 5 else "submitted" if i % 17 == 3 else "accepted"
        else:
            status = "overdue" if i % 3 == 0 else "submitted" if i % 3 == 1 else "rejected"
        if status != "overdue":
            EvidenceRequest.update(status=status).where(EvidenceRequest.id == request.id).execute()
    return engagement


def test_engagement_page_screenshot(browser_page, make_user, tmp_path):
    """The README's screenshot (docs/screenshot.png): the shipped library, a realistic engagement."""
    admin = make_user("client_admin", org="Demo Bank", email="risk.admin@demobank.example")
    engagement = _realistic_engagement(admin)
    sign_in(browser_page, admin)
    browser_page.goto(f"/engagements/{engagement.id}")
    assert browser_page.get_by_role("heading", name=engagement.name).is_visible()
    counts = dict(EvidenceRequest.select(EvidenceRequest.status, pw.fn.COUNT(EvidenceRequest.id))
                  .where(EvidenceRequest.engagement == engagement).group_by(EvidenceRequest.status).tuples())
    for status, n in counts.items():
        assert browser_page.locator(f'td[data-status="{status}"]').inner_text() == str(n)
    assert browser_page.locator("svg.stackbar rect").count() == len([n for n in counts.values() if n])
    # UPDATE_SCREENSHOT=1 refreshes the README's picture; otherwise the shot goes to a temp dir
    target_dir = DOCS if os.environ.get("UPDATE_SCREENSHOT") else str(tmp_path)
    os.makedirs(target_dir, exist_ok=True)
    shot = os.path.join(target_dir, "screenshot.png")
    browser_page.screenshot(path=shot)
    assert os.path.getsize(shot) > 20_000


def test_pages_have_no_serious_accessibility_violations(browser_page, make_user):
    """axe-core (bundled with axe-playwright-python) finds no serious or critical WCAG problem."""
    from axe_playwright_python.sync_playwright import Axe
    axe = Axe()
    admin = make_user("client_admin", org="Demo Bank")
    engagement = _realistic_engagement(admin)
    browser_page.goto("/login")
    problems = _serious(axe.run(browser_page), "/login")
    sign_in(browser_page, admin)
    browser_page.wait_for_url(re.compile(r"/$"))
    for url in ("/", "/library", "/library/CPS234", "/controls/AC-01", "/coverage?framework=PCIDSS-4.0.1",
                "/engagements", "/engagements/new", f"/engagements/{engagement.id}",
                f"/engagements/{engagement.id}/requests", f"/engagements/{engagement.id}/soa",
                f"/engagements/{engagement.id}/audit", f"/engagements/{engagement.id}/audit?from=soon",
                "/dashboard", f"/dashboard?engagement={engagement.id}&framework=CPS234", "/review",
                f"/requests/{EvidenceRequest.select().where(EvidenceRequest.engagement == engagement).first().id}"):
        browser_page.goto(url)
        problems += _serious(axe.run(browser_page), url)
    assert problems == []


def _serious(result, url: str) -> list[str]:
    return [f"{url}: {v['id']} ({v['impact']}): {node['html'][:120]}"
            for v in result.response["violations"] if v["impact"] in ("serious", "critical")
            for node in v["nodes"]]
