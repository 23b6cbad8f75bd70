"""Webhooks over real TLS: a receiver on loopback serves HTTPS with a certificate issued by a CA the test makes;
the sender trusts it only through WEBHOOK_CA_BUNDLE, and the receiver verifies each signature with the
``standardwebhooks`` library. A certificate nobody configured is a TLS failure: logged, retried, never a 500."""
from __future__ import annotations

import pytest
from conftest import bearer, login
from fixtures.integrations import make_ca

from models import WebhookAttempt, WebhookDelivery
from services.integrations import crypto, webhooks
from services.register.engagements import create_accepted_engagement


@pytest.fixture
def engagement(make_user):
    admin = make_user("client_admin")
    return create_accepted_engagement(
        admin, {"name": "TLS centre", "provider": "BPO T", "frameworks": ["ISO27001-2022"],
                                     "place": "NSW", "start_date": "2026-01-01"}), admin


@pytest.fixture
def ca_bundle():
    """WEBHOOK_CA_BUNDLE for the test, as the configuration would set it."""
    before = crypto.settings.ca_bundle
    yield lambda path: setattr(crypto.settings, "ca_bundle", path)
    crypto.settings.ca_bundle = before


def _subscribe(client, admin, receiver) -> dict:
    response = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["finding.raised"]},
                           headers=bearer(admin))
    assert response.status_code == 201, response.get_json()
    receiver.secret = response.get_json()["secret"]
    return response.get_json()


def _raise_finding(engagement, number: int) -> None:
    assert webhooks.emit("finding.raised", engagement, object_type="finding", object_id=number,
                         title="Weak TLS config", path=f"/findings/{number}") == 1


def test_a_receiver_whose_ca_is_configured_gets_the_event_over_https_verified(
        client, engagement, tls_webhook_receiver, allow_private, ca_bundle, tmp_path):
    engagement, admin = engagement
    ca = make_ca(tmp_path, "bank")
    ca_bundle(ca.bundle)
    receiver = tls_webhook_receiver(ca)
    assert receiver.url.startswith("https://localhost:")
    _subscribe(client, admin, receiver)
    _raise_finding(engagement, 41)

    assert webhooks.deliver_pending().delivered == 1
    [received] = receiver.verified("finding.raised")
    assert received.payload["data"]["object"] == {"type": "finding", "id": 41}
    attempt = WebhookAttempt.get()
    assert attempt.status_code == 204 and attempt.address == "127.0.0.1"


@pytest.mark.parametrize("configured", ["another CA", "none (the system's)"])
def test_an_untrusted_certificate_is_a_logged_tls_failure_retried_later(
        app, client, engagement, tls_webhook_receiver, allow_private, ca_bundle, tmp_path, configured):
    engagement, admin = engagement
    receiver = tls_webhook_receiver(make_ca(tmp_path, "rogue"))
    ca_bundle(make_ca(tmp_path, "bank").bundle if configured == "another CA" else "")
    hook = _subscribe(client, admin, receiver)
    _raise_finding(engagement, 42)

    result = webhooks.deliver_pending()
    assert (result.delivered, result.retried) == (0, 1)
    assert receiver.received == []  # nothing was sent over the untrusted connection
    delivery = WebhookDelivery.get()
    assert delivery.delivered_at is None and delivery.failed_at is None
    assert delivery.next_attempt_at > delivery.created_at
    attempt = WebhookAttempt.get()
    assert attempt.status_code is None and attempt.error.startswith("TLS:"), attempt.error
    assert "CERTIFICATE_VERIFY_FAILED" in attempt.error

    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(admin))
    assert log.status_code == 200
    [item] = log.get_json()["items"]
    assert item["attempts"][0]["error"].startswith("TLS:")
    browser = app.test_client()
    login(browser, admin)
    page = browser.get(f"/integrations/webhooks/{hook['id']}")
    assert page.status_code == 200 and "TLS:" in page.get_data(as_text=True)


def test_a_ca_bundle_that_cannot_be_read_stops_the_start(tmp_path):
    with pytest.raises(RuntimeError, match="WEBHOOK_CA_BUNDLE"):
        crypto.configure("k" * 32, ca_bundle=str(tmp_path / "missing.pem"))
