"""Housekeeping of the integrations' tables and secrets: a webhook's signing secret is rotated (the new one shown
once, the old one still signing alongside it for 24 hours, then dropped, each step audited); the scheduler pass
purges deliveries 30 days after their final state, SSO flows past their lifetime and SAML response ids past
their NotOnOrAfter, in bounded batches; and
SSO sign-ins started from one address are limited, so a flood of starts cannot fill the table."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import bearer
from standardwebhooks import Webhook, WebhookVerificationError

from models import (
    AuditEvent,
    SsoConfig,
    SsoFlow,
    SsoResponseSeen,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from services.alerts.scheduler import tick
from services.identity import sso
from services.integrations import webhooks
from services.register.engagements import create_accepted_engagement

DAY = dt.timedelta(days=1)


@pytest.fixture
def bank(make_user):
    admin = make_user("client_admin")
    engagement = create_accepted_engagement(
        admin, {"name": "Keep centre", "provider": "BPO K", "frameworks": ["ISO27001-2022"],
                                           "place": "NSW", "start_date": "2026-01-01"})
    return admin, engagement


def subscribe(client, admin, receiver) -> dict:
    response = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["finding.raised"]},
                           headers=bearer(admin))
    assert response.status_code == 201
    receiver.secret = response.get_json()["secret"]
    return response.get_json()


def raise_finding(engagement, number: int) -> None:
    webhooks.emit("finding.raised", engagement, object_type="finding", object_id=number, title="x",
                  path=f"/findings/{number}")
    assert webhooks.deliver_pending().delivered == 1


def verifies(secret: str, received) -> bool:
    try:
        Webhook(secret).verify(received.body, received.headers)
    except WebhookVerificationError:
        return False
    return True


def test_a_rotated_secret_signs_beside_the_new_one_for_a_day_then_is_dropped(client, bank, webhook_receiver,
                                                                             allow_private, make_user):
    admin, engagement = bank
    receiver = webhook_receiver()
    hook = subscribe(client, admin, receiver)
    old = receiver.secret
    response = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=bearer(admin))
    assert response.status_code == 200
    new = response.get_json()["secret"]
    assert new.startswith("whsec_") and new != old and response.get_json()["id"] == hook["id"]

    raise_finding(engagement, 1)
    [during] = receiver.received
    assert len(during.headers["webhook-signature"].split()) == 2  # one v1 signature per secret
    assert verifies(new, during) and verifies(old, during)  # either side of the switch accepts it

    tick(now=utcnow() + DAY + dt.timedelta(minutes=1))  # the overlap is over: the pass drops the old secret
    assert WebhookEndpoint.get_by_id(hook["id"]).previous_secret_encrypted is None
    raise_finding(engagement, 2)
    after = receiver.received[-1]
    assert verifies(new, after) and not verifies(old, after)
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.object_type == "webhook",
                                                           AuditEvent.object_id == str(hook["id"]))
               .order_by(AuditEvent.id)]
    assert actions == ["webhook.create", "webhook.rotate_secret", "webhook.previous_secret_dropped"]

    stranger = make_user("client_admin", org="Other Bank")
    other = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=bearer(stranger))
    missing = client.post("/api/v1/webhooks/999999/rotate-secret", headers=bearer(stranger))
    assert other.status_code == missing.status_code == 404 and other.get_json() == missing.get_json()


def test_a_second_rotation_racing_the_first_is_a_409_and_no_shown_secret_is_lost(bank, monkeypatch, allow_private):
    admin, _engagement = bank
    endpoint, _secret = webhooks.create(admin, "http://127.0.0.1:9/hook", ["finding.raised"])
    stale = WebhookEndpoint.get_by_id(endpoint.id)
    webhooks.rotate_secret(admin, endpoint.id)
    monkeypatch.setattr(webhooks, "_endpoint", lambda *_args: stale)  # read before the first rotation committed
    with pytest.raises(webhooks.Conflict):
        webhooks.rotate_secret(admin, endpoint.id)
    assert AuditEvent.select().where(AuditEvent.action == "webhook.rotate_secret").count() == 1


def _delivery(endpoint, n: int, **state) -> WebhookDelivery:
    delivery = WebhookDelivery.create(endpoint=endpoint, message_id=f"msg_{n}", event="finding.raised", payload="{}",
                                      **state)
    WebhookAttempt.create(delivery=delivery, status_code=204)
    return delivery


def test_the_pass_purges_deliveries_a_month_after_their_final_state_in_batches(bank, monkeypatch, allow_private):
    admin, _engagement = bank
    endpoint, _secret = webhooks.create(admin, "http://127.0.0.1:9/hook", ["finding.raised"])
    now = utcnow()
    old = [_delivery(endpoint, n, delivered_at=now - 31 * DAY) for n in range(3)]
    old.append(_delivery(endpoint, 3, failed_at=now - 31 * DAY))
    recent = _delivery(endpoint, 4, delivered_at=now - 29 * DAY)
    pending = _delivery(endpoint, 5, created_at=now - 60 * DAY, next_attempt_at=now + DAY)
    monkeypatch.setattr(webhooks, "PURGE_BATCH", 2)

    assert list(webhooks.purge(now)) == [2, 1, 1]  # delivered ones two at a time, then the given-up one
    assert {d.id for d in WebhookDelivery.select()} == {recent.id, pending.id}
    assert not WebhookAttempt.select().where(WebhookAttempt.delivery.in_([d.id for d in old])).exists()
    assert WebhookAttempt.select().count() == 2

    tick(now=now + 2 * DAY)  # the scheduler pass runs the same step
    assert {d.id for d in WebhookDelivery.select()} == {pending.id}


@pytest.fixture
def config(make_user):
    admin = make_user("client_admin")
    return SsoConfig.create(organisation=admin.organisation_id, slug="bank-k", protocol="oidc", enabled=True)


def test_the_pass_purges_sso_flows_past_their_lifetime(config, monkeypatch):
    now = utcnow()
    for n, age in enumerate((sso.FLOW_TTL * 6, sso.FLOW_TTL + dt.timedelta(seconds=1), sso.FLOW_TTL * 2)):
        SsoFlow.create(config=config, key=f"old-{n}", created_at=now - age)
    fresh = sso.start_flow(config, key="fresh", ip="203.0.113.9")
    monkeypatch.setattr(sso, "PURGE_BATCH", 2)
    assert list(sso.purge_flows(now)) == [2, 1]
    assert [f.key for f in SsoFlow.select()] == [fresh.key]
    tick(now=now + sso.FLOW_TTL + dt.timedelta(seconds=1))
    assert SsoFlow.select().count() == 0


def test_the_pass_purges_saml_response_ids_past_their_not_on_or_after(config, monkeypatch):
    now, second = utcnow(), dt.timedelta(seconds=1)
    rows = {"expired-1": (now - second, now), "expired-2": (now - DAY, now), "expired-3": (now - second, now),
            "live": (now + second, now), "old-style": (None, now - DAY - second),
            "old-style-young": (None, now - DAY + dt.timedelta(minutes=1))}
    for response_id, (keep_until, seen_at) in rows.items():
        SsoResponseSeen.create(config=config, response_id=response_id, keep_until=keep_until, seen_at=seen_at)
    monkeypatch.setattr(sso, "PURGE_BATCH", 2)
    assert list(sso.purge_seen_responses(now)) == [2, 2]
    assert {s.response_id for s in SsoResponseSeen.select()} == {"live", "old-style-young"}
    tick(now=now + 2 * second)  # the scheduler pass runs the same step
    assert [s.response_id for s in SsoResponseSeen.select()] == ["old-style-young"]


def test_sign_ins_started_from_one_address_are_limited_and_others_are_not(config, monkeypatch):
    monkeypatch.setattr(sso, "STARTS_PER_ADDRESS", 3)
    for n in range(3):
        sso.start_flow(config, key=f"k{n}", ip="198.51.100.7")
    with pytest.raises(sso.TooManyStarts) as refused:
        sso.start_flow(config, key="k3", ip="198.51.100.7")
    assert refused.value.status == 429
    assert SsoFlow.select().count() == 3
    sso.start_flow(config, key="elsewhere", ip="198.51.100.8")  # another office is not held up
    SsoFlow.update(created_at=utcnow() - sso.FLOW_TTL - dt.timedelta(seconds=1)).execute()
    sso.start_flow(config, key="later", ip="198.51.100.7")  # once the window has passed
    assert SsoFlow.select().count() == 5


def test_a_flood_of_sso_starts_in_the_browser_is_a_429_page_not_a_500(client, config, monkeypatch):
    monkeypatch.setattr(sso, "STARTS_PER_ADDRESS", 0)
    monkeypatch.setattr("services.identity.oidc.discovery", lambda issuer: {
        "authorization_endpoint": "https://idp.example/authorize"})
    response = client.get(f"/sso/{config.slug}/login")
    assert response.status_code == 429 and "Too many sign-ins" in response.get_data(as_text=True)
    assert SsoFlow.select().count() == 0
