"""Signed webhooks: an admin subscribes an endpoint; events reach it once, signed as Standard Webhooks says
(verified by the receiver with the ``standardwebhooks`` library), from an outbox written with the event; failures
are retried with backoff and every attempt is logged; private addresses are refused; tenants never cross."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from conftest import bearer

from models import (
    AuditEvent,
    Clock,
    EvidenceRequest,
    EvidenceRequirement,
    Incident,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    transaction,
    utcnow,
)
from services.alerts.scheduler import tick
from services.demo import files as demo_files
from services.integrations import crypto, webhooks
from services.register.engagements import create_accepted_engagement
from tests.test_planning import Statements

T = dt.datetime
CREATED = T(2026, 6, 15, 2, 0)


@pytest.fixture
def parties(make_user):
    admin = make_user("client_admin")
    provider = make_user("provider_admin")
    engagement = create_accepted_engagement(admin,
            {"name": "Hook centre", "provider": "BPO A", "frameworks": ["ISO27001-2022"],
                                           "place": "NSW", "start_date": "2026-01-01"}, now=CREATED)
    return {"engagement": engagement, "admin": admin, "provider": provider}


def subscribe(client, user, receiver, events) -> dict:
    response = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": events}, headers=bearer(user))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    receiver.secret = body["secret"]
    return body


def breach_a_clock(engagement, rule="CPS230-INCIDENT") -> Clock:
    incident = Incident.create(engagement=engagement, title="Outage", category="operational_disruption",
                               occurred_at=T(2026, 7, 1), aware_at=T(2026, 7, 1), aware_party="client")
    clock = Clock.create(incident=incident, rule_id=rule, started_at=T(2026, 7, 1), deadline_at=T(2026, 7, 4),
                         basis="72 elapsed hours")
    assert tick(now=T(2026, 7, 4, 0, 1)).breached == 1
    return clock


def test_a_clock_breach_reaches_the_client_endpoint_once_signed_and_never_the_provider(
        client, parties, webhook_receiver, allow_private):
    bank, bpo = webhook_receiver(), webhook_receiver()
    hook = subscribe(client, parties["admin"], bank, ["clock.breached", "finding.raised"])
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["clock.breached", "finding.raised"]
    subscribe(client, parties["provider"], bpo, ["clock.breached", "finding.raised"])

    clock = breach_a_clock(parties["engagement"])  # the pass delivers what it queued

    [breach] = bank.verified("clock.breached")
    assert breach.payload["data"]["object"] == {"type": "clock", "id": clock.id}
    assert breach.payload["data"]["rule"] == "CPS230-INCIDENT"
    assert breach.payload["data"]["url"].endswith(f"/incidents/{clock.incident_id}")
    assert breach.headers["webhook-id"].startswith("msg_") and breach.headers["webhook-signature"].startswith("v1,")
    assert len(bank.verified("finding.raised")) == 1
    # a regulatory clock is the client's: the provider hears of the finding (it sees it) but not of the clock
    assert [r.payload["type"] for r in bpo.verified()] == ["finding.raised"]
    assert all(r.verified for r in bank.received + bpo.received)

    tick(now=T(2026, 7, 4, 0, 5))  # again: nothing twice
    assert len(bank.received) == 2 and len(bpo.received) == 1

    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(parties["admin"])).get_json()
    assert {d["event"] for d in log["items"]} == {"clock.breached", "finding.raised"}
    assert all(d["state"] == "delivered" and [a["status_code"] for a in d["attempts"]] == [204]
               for d in log["items"])


def test_the_outbox_row_is_written_in_the_events_transaction_and_not_twice(parties, webhook_receiver,
                                                                           allow_private, client):
    receiver = webhook_receiver()
    subscribe(client, parties["admin"], receiver, ["finding.changed", "finding.raised"])
    engagement = parties["engagement"]
    with pytest.raises(RuntimeError), transaction():
        assert webhooks.emit("finding.raised", engagement, object_type="finding", object_id=99, title="x",
                             path="/findings/99") == 1
        raise RuntimeError("the change fails")
    assert WebhookDelivery.select().count() == 0  # rolled back with it
    for _ in range(2):
        webhooks.emit("finding.raised", engagement, object_type="finding", object_id=99, title="x", path="/x")
    assert WebhookDelivery.select().count() == 1


def test_a_failing_endpoint_is_retried_with_backoff_every_attempt_logged(client, parties, webhook_receiver,
                                                                         allow_private):
    receiver = webhook_receiver()
    hook = subscribe(client, parties["admin"], receiver, ["finding.raised"])
    receiver.statuses = [500, 503]
    webhooks.emit("finding.raised", parties["engagement"], object_type="finding", object_id=7, title="Late",
                  path="/findings/7")
    before = utcnow()
    assert webhooks.deliver_pending().retried == 1
    delivery = WebhookDelivery.get()
    assert delivery.next_attempt_at >= before + webhooks.RETRY_AFTER[0] and delivery.last_status == 500
    assert webhooks.deliver_pending().retried == 0  # not due yet: nothing is sent early
    for expected_wait in webhooks.RETRY_AFTER[1:2]:
        WebhookDelivery.update(next_attempt_at=utcnow()).execute()
        webhooks.deliver_pending()
        assert WebhookDelivery.get().next_attempt_at >= utcnow() + expected_wait - dt.timedelta(seconds=5)
    WebhookDelivery.update(next_attempt_at=utcnow()).execute()
    assert webhooks.deliver_pending().delivered == 1
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # the same message each time
    assert [a.status_code for a in WebhookAttempt.select().order_by(WebhookAttempt.id)] == [500, 503, 204]
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=bearer(parties["admin"])).get_json()
    assert log["items"][0]["state"] == "delivered" and len(log["items"][0]["attempts"]) == 3
    assert sum(webhooks.RETRY_AFTER, dt.timedelta()) > dt.timedelta(days=1)  # retried over a day


def test_an_endpoint_that_never_answers_well_is_given_up_after_the_last_retry(parties, webhook_receiver,
                                                                              allow_private, client):
    receiver = webhook_receiver()
    subscribe(client, parties["admin"], receiver, ["finding.raised"])
    receiver.statuses = [500] * webhooks.MAX_ATTEMPTS
    webhooks.emit("finding.raised", parties["engagement"], object_type="finding", object_id=8, title="x", path="/")
    for _ in range(webhooks.MAX_ATTEMPTS):
        WebhookDelivery.update(next_attempt_at=utcnow()).execute()
        webhooks.deliver_pending()
    delivery = WebhookDelivery.get()
    assert delivery.failed_at is not None and delivery.attempts == webhooks.MAX_ATTEMPTS
    assert len(receiver.received) == webhooks.MAX_ATTEMPTS


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://169.254.169.254/latest/meta-data", "https://10.1.2.3/",
    "https://192.168.0.10/", "https://[::1]/", "https://localhost/hook", "https://100.64.0.1/",
    "http://example.com/hook",  # plain http
    "https://user:pw@example.com/", "ftp://example.com/", "not a url", "",
])
def test_private_loopback_link_local_and_malformed_urls_are_refused_and_change_nothing(client, make_user, url):
    response = client.post("/api/v1/webhooks", json={"url": url, "events": ["clock.breached"]},
                           headers=bearer(make_user("client_admin")))
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid"
    assert WebhookEndpoint.select().count() == 0


def test_a_refused_address_is_in_the_audit_trail(client, make_user):
    client.post("/api/v1/webhooks", json={"url": "https://169.254.169.254/", "events": ["clock.breached"]},
                headers=bearer(make_user("client_admin")))
    event = AuditEvent.get(AuditEvent.action == "webhook.refused")
    assert "169.254.169.254" in json.loads(event.details)["url"]


def test_a_name_repointed_at_a_private_address_after_subscription_is_refused_at_send_time(
        client, parties, webhook_receiver, allow_private):
    receiver = webhook_receiver()
    subscribe(client, parties["admin"], receiver, ["finding.raised"])
    crypto.settings.allow_private = False  # as if the name now resolved to a private address
    webhooks.emit("finding.raised", parties["engagement"], object_type="finding", object_id=9, title="x", path="/")
    webhooks.deliver_pending()
    attempt = WebhookAttempt.get()
    assert attempt.status_code is None and attempt.error.startswith("refused")
    assert receiver.received == []


@pytest.mark.parametrize("events", [[], ["nope"], "clock.breached", [1], None])
def test_bad_event_lists_are_422(client, make_user, events):
    response = client.post("/api/v1/webhooks", json={"url": "https://example.com/h", "events": events},
                           headers=bearer(make_user("client_admin")))
    assert response.status_code == 422 and WebhookEndpoint.select().count() == 0


def test_another_tenant_and_non_admins_see_a_webhook_as_missing(client, parties, webhook_receiver, allow_private,
                                                                make_user):
    hook = subscribe(client, parties["admin"], webhook_receiver(), ["finding.raised"])
    stranger = make_user("client_admin", org="Bank B")
    missing = client.delete("/api/v1/webhooks/999999", headers=bearer(stranger))
    for user in (stranger, parties["provider"], make_user("risk_reviewer")):
        for method, path in (("delete", f"/api/v1/webhooks/{hook['id']}"),
                             ("get", f"/api/v1/webhooks/{hook['id']}/deliveries"),
                             ("post", f"/api/v1/webhooks/{hook['id']}/test")):
            response = getattr(client, method)(path, headers=bearer(user))
            assert response.status_code == 404 and response.get_json() == missing.get_json()
    assert client.get("/api/v1/webhooks", headers=bearer(stranger)).get_json()["items"] == []
    assert WebhookEndpoint.get_by_id(hook["id"]).deleted_at is None
    refused = AuditEvent.select().where(AuditEvent.action == "webhook.refused", AuditEvent.object_id == str(hook["id"]))
    assert refused.count() == 6  # the stranger's and the provider's three tries each (the reviewer's is its own)


def test_a_double_submit_creates_one_webhook_and_deleting_stops_its_deliveries(client, parties, webhook_receiver,
                                                                               allow_private):
    receiver = webhook_receiver()
    hook = subscribe(client, parties["admin"], receiver, ["finding.raised"])
    again = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["finding.raised"]},
                        headers=bearer(parties["admin"]))
    assert again.status_code == 409 and WebhookEndpoint.select().count() == 1
    webhooks.emit("finding.raised", parties["engagement"], object_type="finding", object_id=3, title="x", path="/")
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=bearer(parties["admin"])).status_code == 200
    webhooks.deliver_pending()
    assert receiver.received == [] and WebhookDelivery.get().failed_at is not None
    assert client.get("/api/v1/webhooks", headers=bearer(parties["admin"])).get_json()["items"] == []


def test_the_test_button_sends_a_signed_test_event_and_the_secret_is_encrypted_at_rest(
        client, parties, webhook_receiver, allow_private):
    receiver = webhook_receiver()
    hook = subscribe(client, parties["admin"], receiver, ["pack.ready"])
    row = WebhookEndpoint.get_by_id(hook["id"])
    assert receiver.secret not in row.secret_encrypted and crypto.decrypt(row.secret_encrypted) == receiver.secret
    response = client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=bearer(parties["admin"]))
    assert response.status_code == 202 and response.get_json()["state"] == "pending"
    assert webhooks.deliver_pending().delivered == 1
    assert [r.payload["type"] for r in receiver.verified()] == [webhooks.TEST_EVENT]
    assert AuditEvent.select().where(AuditEvent.action == "webhook.test").count() == 1


def test_no_endpoint_means_no_outbox_row(parties):
    assert webhooks.emit("clock.breached", parties["engagement"], object_type="clock", object_id=1, title="x",
                         path="/") == 0
    assert WebhookDelivery.select().count() == 0


def test_evidence_and_finding_events_reach_both_parties_through_the_api(client, parties, webhook_receiver,
                                                                       allow_private, make_user):
    bank, bpo = webhook_receiver(), webhook_receiver()
    events = ["evidence.submitted", "evidence.reviewed", "finding.raised", "finding.changed"]
    subscribe(client, parties["admin"], bank, events)
    subscribe(client, parties["provider"], bpo, events)
    engagement = parties["engagement"]
    request = (EvidenceRequest.select().join(EvidenceRequirement)
               .where(EvidenceRequest.engagement == engagement, EvidenceRequirement.produced_by == "provider",
                      EvidenceRequirement.accepted_types.contains('"application/pdf"'))
               .order_by(EvidenceRequest.id).first())
    upload = client.post(f"/api/v1/engagements/{engagement.id}/evidence",
                         data={"request_id": str(request.id), "effective_date": request.period_start.isoformat(),
                               "file": (io.BytesIO(demo_files.pdf("Access review")), "report.pdf")},
                         headers=bearer(parties["provider"]), content_type="multipart/form-data")
    assert upload.status_code == 201, upload.get_json()
    reviewer = bearer(make_user("risk_reviewer"))
    review = client.post(f"/api/v1/evidence/{upload.get_json()['id']}/review", headers=reviewer,
                         json={"decision": "reject", "comment": "Unsigned: the reviewer's name is missing"})
    assert review.status_code == 200
    raised = client.post(f"/api/v1/engagements/{engagement.id}/findings", headers=reviewer,
                         json={"title": "Access reviews late", "source": "auditor", "severity": "high"})
    assert raised.status_code == 201, raised.get_json()
    assert client.patch(f"/api/v1/findings/{raised.get_json()['id']}", headers=reviewer,
                        json={"severity": "low"}).status_code == 200
    webhooks.deliver_pending()
    for receiver in (bank, bpo):
        assert sorted(r.payload["type"] for r in receiver.verified()) == sorted(events)
        rejected = receiver.verified("evidence.reviewed")[0].payload["data"]
        assert rejected["decision"] == "reject" and rejected["request_id"] == request.id
        assert "Unsigned" not in json.dumps(rejected)  # the reviewer's comment stays in Attest


def test_an_event_costs_the_request_one_statement_whatever_its_endpoints(client, parties, webhook_receiver,
                                                                         allow_private):
    for user, count in ((parties["admin"], 3), (parties["provider"], 2)):
        for _ in range(count):
            subscribe(client, user, webhook_receiver(), ["finding.raised"])
    subscribe(client, parties["admin"], webhook_receiver(), ["clock.breached"])  # not this event
    with transaction(), Statements() as counted:  # the request's own transaction
        written = webhooks.emit("finding.raised", parties["engagement"], object_type="finding", object_id=5,
                                title="Five endpoints", path="/findings/5")
    assert written == 5 and counted.count == 1  # no look-up round trip, no savepoint: one INSERT … SELECT
    assert len({d.payload for d in WebhookDelivery.select()}) == 1
