"""Every role's daily pages on a phone (390 px) and a laptop (1280 px), in headless Chromium: nothing wider than
the screen, the navigation folds behind a Menu button on the phone and never pushes "Sign out" off the laptop's
screen, an incident's deadline, time left and notice form are on screen at 390 px, the review viewer stacks,
accepted types read as people call them, and axe-core finds no violation of any impact.

Screenshots of each page at both widths are written to the test's temporary directory."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from conftest import PASSWORD, bearer

from models import Evidence, EvidenceRequest, EvidenceRequirement
from services.demo import files as demo_files
from services.incidents import incidents as incident_service
from services.register.engagements import create_accepted_engagement

pytestmark = pytest.mark.browser
PHONE, LAPTOP = 390, 1280


@pytest.fixture
def world(client, make_user):
    """An engagement with an incident whose clocks run and a submitted evidence item, and a user per role."""
    users = {role: make_user(role) for role in ("client_admin", "risk_reviewer", "provider_contributor")}
    engagement = create_accepted_engagement(users["client_admin"], {
        "name": "Retail banking contact centre", "provider": "BPO A", "place": "NSW",
        "frameworks": ["ISO27001-2022", "CPS234", "CPS230", "PCIDSS-4.0.1"], "card_payments": True,
        "start_date": (dt.date.today() - dt.timedelta(days=120)).isoformat()})
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    incident = incident_service.create_incident(users["risk_reviewer"], engagement, {
        "title": "Telephony platform outage", "category": "operational_disruption", "aware_party": "client",
        "occurred_at": (now - dt.timedelta(hours=3)).isoformat(), "aware_at": (now - dt.timedelta(hours=2)).isoformat(),
        "flags": ["material", "outside_tolerance"], "outside_tolerance_at": (now - dt.timedelta(hours=1)).isoformat()})
    request = (EvidenceRequest.select().join(EvidenceRequirement)
               .where(EvidenceRequest.engagement == engagement, EvidenceRequirement.produced_by == "provider",
                      EvidenceRequirement.accepted_types.contains('"application/pdf"'),
                      EvidenceRequest.status.in_(("open", "overdue")))
               .order_by(EvidenceRequest.id).first())
    upload = client.post(f"/api/v1/engagements/{engagement.id}/evidence",
                         data={"request_id": str(request.id), "effective_date": dt.date.today().isoformat(),
                               "file": (io.BytesIO(demo_files.pdf("Access review")), "report.pdf")},
                         headers=bearer(users["provider_contributor"]), content_type="multipart/form-data")
    assert upload.status_code == 201, upload.get_data(as_text=True)
    item = Evidence.get(Evidence.request == request.id)
    return {"users": users, "engagement": engagement, "incident": incident, "request": request, "evidence": item}


PAGES = {
    "client_admin": ["/", "/engagements/{e}", "/engagements/{e}/incidents", "/users", "/subcontractors", "/findings"],
    "risk_reviewer": ["/dashboard", "/review", "/incidents/{i}", "/requests/{r}", "/library"],
    "provider_contributor": ["/inbox", "/requests/{r}", "/engagements/{e}/requests"],
}


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


def _overflow(page) -> int:
    """How many pixels the document is wider than the window (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _violations(page, path: str) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe
    result = Axe().run(page)
    return [f"{path}: {v['id']} ({v['impact']}): {node['target']}" for v in result.response["violations"]
            for node in v["nodes"]]


@pytest.mark.parametrize("width", [PHONE, LAPTOP])
@pytest.mark.parametrize("role", sorted(PAGES))
def test_pages_fit_the_screen_and_pass_axe(chromium, live_server, world, role, width, tmp_path):
    values = {"e": world["engagement"].id, "i": world["incident"].id, "r": world["request"].id}
    context, page = _signed_in(chromium, live_server, world["users"][role], width)
    problems, wide = [], []
    try:
        for template in PAGES[role]:
            path = template.format(**values)
            response = page.goto(path)
            assert response.status == 200, path
            page.screenshot(path=str(tmp_path / f"{role}{re.sub(r'[^a-z0-9]+', '_', path)}_{width}.png"))
            if _overflow(page) > 1:
                wide.append(f"{path}: {_overflow(page)} px wider than {width}")
            problems += _violations(page, path)
            sign_out = page.get_by_role("button", name="Sign out")
            box = sign_out.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, f"{path}: Sign out is off screen"
    finally:
        context.close()
    assert wide == []
    assert problems == []


def test_the_phone_folds_the_navigation_behind_a_menu_button(chromium, live_server, world):
    context, page = _signed_in(chromium, live_server, world["users"]["client_admin"], PHONE)
    try:
        nav = page.get_by_role("navigation", name="Main")
        menu = page.get_by_role("button", name="Menu")
        assert menu.is_visible() and menu.get_attribute("aria-expanded") == "false"
        assert not nav.is_visible()
        menu.click()
        assert menu.get_attribute("aria-expanded") == "true"
        findings = nav.get_by_role("link", name="Findings")
        assert findings.is_visible()
        findings.click()
        page.wait_for_url(re.compile(r"/findings$"))
    finally:
        context.close()


def test_the_laptop_shows_every_navigation_link_on_screen(chromium, live_server, world):
    context, page = _signed_in(chromium, live_server, world["users"]["client_admin"], LAPTOP)
    try:
        assert not page.get_by_role("button", name="Menu").is_visible()
        links = page.get_by_role("navigation", name="Main").get_by_role("link")
        assert links.count() >= 8
        for i in range(links.count()):
            box = links.nth(i).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= LAPTOP, links.nth(i).inner_text()
    finally:
        context.close()


def test_an_incident_on_a_phone_shows_deadline_time_left_and_the_notice_form(chromium, live_server, world):
    context, page = _signed_in(chromium, live_server, world["users"]["risk_reviewer"], PHONE)
    try:
        page.goto(f"/incidents/{world['incident'].id}")
        row = page.locator("tr", has=page.locator("th", has_text="CPS230-TOLERANCE"))
        for part in (row.locator("td[data-label=Deadline] time"), row.locator(".countdown"),
                     row.get_by_label("Notified at"), row.get_by_role("button", name="Record notice")):
            part.scroll_into_view_if_needed()
            box = part.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE
        assert re.search(r"\d", row.locator(".countdown").inner_text())  # the time left, counting down
    finally:
        context.close()


def test_the_review_viewer_stacks_on_a_phone_and_names_types_as_people_do(chromium, live_server, world):
    context, page = _signed_in(chromium, live_server, world["users"]["risk_reviewer"], PHONE)
    try:
        page.goto(f"/review/{world['evidence'].id}")
        asked = page.get_by_role("heading", name="What was asked").bounding_box()
        viewer = page.locator(".side-by-side > section").nth(1).bounding_box()
        assert viewer["y"] > asked["y"] and viewer["x"] < PHONE / 2  # below the request, not beside it
        types = page.locator("dt", has_text="Accepted types").locator("xpath=following-sibling::dd").inner_text()
        assert "PDF" in types and "application/" not in types
    finally:
        context.close()
