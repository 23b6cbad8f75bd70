"""The integrations pages: webhooks with their delivery log and test button (admins), the calendar feed (each
user) and SCIM tokens (admins), through the real forms; and each on a phone and a laptop with axe-core."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, login

from models import CalendarFeed, ScimToken, WebhookDelivery, WebhookEndpoint
from services.integrations import webhooks


def csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


@pytest.fixture
def admin_client(app, make_user):
    admin = make_user("client_admin")
    browser = app.test_client()
    login(browser, admin)
    return browser, admin


def test_an_admin_subscribes_sees_the_secret_once_sends_a_test_and_reads_the_log(admin_client, webhook_receiver,
                                                                                  allow_private):
    browser, _admin = admin_client
    receiver = webhook_receiver()
    page = browser.post("/integrations/webhooks", data={"url": receiver.url, "events": ["clock.breached"],
                                                        "csrf_token": csrf(browser, "/integrations/webhooks")})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "whsec_" in html
    receiver.secret = re.search(r'value="(whsec_[^"]+)"', html).group(1)
    assert "whsec_" not in browser.get("/integrations/webhooks").get_data(as_text=True)  # shown once
    endpoint = WebhookEndpoint.get()
    test = browser.post(f"/integrations/webhooks/{endpoint.id}/test",
                        data={"csrf_token": csrf(browser, "/integrations/webhooks")})
    assert test.status_code == 302
    webhooks.deliver_pending()
    log = browser.get(f"/integrations/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "webhook.test" in log and "HTTP 204" in log and "Delivered" in log
    assert receiver.verified(webhooks.TEST_EVENT)


def test_a_refused_url_is_shown_with_the_form_kept_and_nothing_created(admin_client):
    browser, _admin = admin_client
    page = browser.post("/integrations/webhooks", data={"url": "https://169.254.169.254/", "events": ["pack.ready"],
                                                        "csrf_token": csrf(browser, "/integrations/webhooks")})
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and "No webhook was created" in html and "169.254.169.254" in html
    assert WebhookEndpoint.select().count() == WebhookDelivery.select().count() == 0


def test_non_admins_do_not_see_the_webhook_or_scim_pages(app, make_user):
    browser = app.test_client()
    login(browser, make_user("risk_reviewer"))
    assert browser.get("/integrations/webhooks").status_code == 404
    assert browser.get("/identity/scim").status_code == 404
    assert browser.get("/integrations/calendar").status_code == 200  # everyone has a calendar


def test_the_calendar_page_shows_the_address_once_and_revokes_it(admin_client):
    browser, _admin = admin_client
    page = browser.post("/integrations/calendar", data={"csrf_token": csrf(browser, "/integrations/calendar")})
    url = re.search(r'value="(http[^"]+\.ics)"', page.get_data(as_text=True)).group(1)
    assert browser.get(urlsplit(url).path).status_code == 200
    feed = CalendarFeed.get()
    assert url not in browser.get("/integrations/calendar").get_data(as_text=True)
    browser.post(f"/integrations/calendar/{feed.id}/revoke",
                 data={"csrf_token": csrf(browser, "/integrations/calendar")})
    assert CalendarFeed.get().revoked_at is not None


def test_the_scim_page_creates_and_revokes_a_token(admin_client):
    browser, _admin = admin_client
    page = browser.post("/identity/scim", data={"name": "Okta", "csrf_token": csrf(browser, "/identity/scim")})
    assert re.search(r'value="(scim_[^"]+)"', page.get_data(as_text=True))
    token = ScimToken.get()
    browser.post(f"/identity/scim/{token.id}/revoke", data={"csrf_token": csrf(browser, "/identity/scim")})
    assert ScimToken.get().revoked_at is not None


def test_an_admin_rotates_the_secret_through_the_form_and_sees_it_once(admin_client, allow_private):
    browser, admin = admin_client
    endpoint, secret = webhooks.create(admin, "http://127.0.0.1:9/hook", ["finding.raised"])
    page = browser.post(f"/integrations/webhooks/{endpoint.id}/rotate",
                        data={"csrf_token": csrf(browser, f"/integrations/webhooks/{endpoint.id}")})
    html = page.get_data(as_text=True)
    new = re.search(r'id="new-secret" type="text" readonly value="(whsec_[^"]+)"', html).group(1)
    assert page.status_code == 200 and new != secret and "previous secret still signs" in html
    again = browser.get(f"/integrations/webhooks/{endpoint.id}").get_data(as_text=True)
    assert new not in again and "previous secret still signs" in again
    before = WebhookEndpoint.get_by_id(endpoint.id).secret_encrypted
    forged = browser.post(f"/integrations/webhooks/{endpoint.id}/rotate", data={})  # no CSRF token
    assert forged.status_code == 400 and WebhookEndpoint.get_by_id(endpoint.id).secret_encrypted == before


@pytest.mark.browser
def test_the_pages_fit_a_phone_and_a_laptop_and_pass_axe(chromium, live_server, make_user):
    from axe_playwright_python.sync_playwright import Axe
    admin = make_user("client_admin")
    endpoint = WebhookEndpoint.create(organisation=admin.organisation_id, url="https://hooks.example.com/attest",
                                      events="clock.breached finding.raised", secret_encrypted="x")
    problems = []
    for width in (390, 1280):
        context = chromium.new_context(base_url=live_server, viewport={"width": width, "height": 860})
        try:
            page = context.new_page()
            page.goto("/login")
            page.get_by_label("E-mail").fill(admin.email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(re.compile(r"/$"))
            for path in ("/integrations/webhooks", f"/integrations/webhooks/{endpoint.id}", "/integrations/calendar",
                         "/identity/scim"):
                assert page.goto(path).status == 200, path
                wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                if wide > 1:
                    problems.append(f"{path} at {width}: {wide} px too wide")
                problems += [f"{path} at {width}: {v['id']} {n['target']}"
                             for v in Axe().run(page).response["violations"] for n in v["nodes"]]
            page.goto(f"/integrations/webhooks/{endpoint.id}")
            page.get_by_role("button", name="Rotate secret").click()  # the new secret, shown once
            assert page.locator("#new-secret").input_value().startswith("whsec_")
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if wide > 1:
                problems.append(f"rotated at {width}: {wide} px too wide")
            problems += [f"rotated at {width}: {v['id']} {n['target']}"
                         for v in Axe().run(page).response["violations"] for n in v["nodes"]]
        finally:
            context.close()
    assert problems == []
