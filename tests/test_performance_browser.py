"""The performance pages in headless Chromium at 390 px and 1280 px: the scorecard, its charts and the forms fit
the screen (tables scroll inside their frame), a reviewer accepts a result in the browser, and axe-core finds no
violation. Screenshots of each width go to the test's temporary directory."""
from __future__ import annotations

import re

import pytest
from conftest import PASSWORD

from models import KpiResult
from services.performance import commercial, kpis, results
from services.register.engagements import create_accepted_engagement

pytestmark = pytest.mark.browser
PHONE, LAPTOP = 390, 1280


def _signed_in(chromium, live_server, user, width: int):
    context = chromium.new_context(base_url=live_server, viewport={"width": width, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto("/login")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))
    return context, page


def _violations(page, path: str) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe
    result = Axe().run(page)
    return [f"{path}: {v['id']} ({v['impact']}): {node['target']}" for v in result.response["violations"]
            for node in v["nodes"]]


def test_performance_pages_fit_phone_and_laptop_and_pass_axe(chromium, live_server, library, make_user, tmp_path):
    admin, provider, risk = make_user("client_admin"), make_user("provider_admin"), make_user("risk_reviewer")
    engagement = create_accepted_engagement(admin, {"name": "Retail", "provider": "BPO A", "frameworks": ["CONTRACT"],
                                           "place": "NSW", "start_date": "2026-01-01"})
    for code in ("ABANDON", "SL-80-20", "CSAT"):
        kpis.create_kpi(admin, engagement.id, {"template": code})
    commercial.update_settings(admin, engagement.id, {"bands": [{"from": 0, "to": None, "unit_rate": "4.10"}]})
    commercial.put_month(admin, engagement.id, "2026-02", {"forecast_volume": 30000, "actual_volume": 30000})
    rows = [results.Row(1, "ABANDON", "2026-02", "9"), results.Row(2, "CSAT", "2026-02", "86"),
            results.Row(3, "SL-80-20", "2026-W06", "81.5")]
    stored = results.submit(provider, engagement.id, rows)
    for result in stored[:2]:
        results.review(risk, result.id, {"decision": "accept"})
    kpi = kpis.kpis_of(engagement).first()
    problems: list[str] = []
    for width in (PHONE, LAPTOP):
        context, page = _signed_in(chromium, live_server, risk, width)
        for path in (f"/engagements/{engagement.id}/performance?from=2026-01&to=2026-03", f"/kpis/{kpi.id}",
                     "/performance"):
            page.goto(path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                problems.append(f"{path} at {width}px is {overflow}px wider than the screen")
            problems += _violations(page, f"{path} at {width}px")
            page.screenshot(path=str(tmp_path / f"{path.strip('/').split('?')[0].replace('/', '_')}-{width}.png"),
                            full_page=True)
        if width == LAPTOP:
            page.goto(f"/engagements/{engagement.id}/performance?from=2026-01&to=2026-03")
            assert page.locator("#trend-" + str(kpi.id)).is_visible()
            row = page.locator(f"tr[data-result='{stored[2].id}']")
            row.get_by_role("button", name="Accept").click()
            page.wait_for_url(re.compile(r"/performance$"))
            assert "reviewed" in page.locator(".flash").first.inner_text()
        context.close()
    assert problems == []
    assert KpiResult.get_by_id(stored[2].id).state == "accepted"
