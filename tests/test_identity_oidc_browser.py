"""In Chromium: a user of an SSO organisation types only its e-mail, is sent to the real OpenID provider,
signs in there and lands in Attest with the mapped role; its admin's SSO settings page fits a phone and a
laptop, passes axe, and its "test sign-in" reports what the IdP said without signing anyone in."""
from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from test_identity_oidc import DOMAIN, bank  # noqa: F401 - the SSO organisation fixture

from models import AuditEvent, User

pytestmark = pytest.mark.browser


@pytest.fixture
def at_live_server(app, live_server, monkeypatch):
    """The IdP sends the browser back to BASE_URL: here, the live server."""
    monkeypatch.setitem(app.config, "BASE_URL", live_server)
    return live_server


def _through_the_idp(page, account: str) -> None:
    page.locator("input[name=login]").fill(account)
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").click()
    consent = page.get_by_role("button", name="Continue")
    if consent.count():
        consent.click()


def test_an_sso_user_signs_in_through_the_idp_in_a_browser(browser_page, bank, at_live_server):  # noqa: F811
    page = browser_page
    page.goto("/login")
    page.get_by_label("E-mail").fill(f"alice@{DOMAIN}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/interaction/"))
    _through_the_idp(page, "alice")
    page.wait_for_url(re.compile(re.escape(at_live_server) + r"/$"))
    assert page.get_by_role("button", name="Sign out").count() == 1
    alice = User.get(User.email == f"alice@{DOMAIN}")
    assert alice.role == "client_admin"

    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 860})
        assert page.goto(f"/organisations/{alice.organisation_id}/sso").status == 200
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1, width
        assert Axe().run(page).response["violations"] == [], width

    page.get_by_role("link", name="Test sign-in").click()
    if "/interaction/" in page.url:
        _through_the_idp(page, "bob")
    page.wait_for_url(re.compile(r"/sso/oidc/callback"))
    assert page.locator("#test-role").inner_text() in ("risk_reviewer", "client_admin")
    assert AuditEvent.select().where(AuditEvent.action == "sso.test").count() == 1
    assert page.get_by_role("button", name="Sign out").count() == 1  # the admin is still the one signed in
