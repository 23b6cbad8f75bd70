"""Webhooks of the caller's organisation (its admins) with their delivery log, and the caller's own calendar
feed (SPEC §10)."""
from __future__ import annotations

import json

from flask import jsonify

from domain.timeutil import isoformat_utc
from models import CalendarFeed, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from services.integrations import calendar, webhooks
from web import openapi as oas
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip

INSTANT = {"type": "string", "format": "date-time"}
INSTANT_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
EVENT = {"type": "string", "enum": list(webhooks.EVENTS)}
WEBHOOK = {"id": {"type": "integer"}, "url": {"type": "string"}, "events": {"type": "array", "items": EVENT},
           "created_at": INSTANT, "deleted_at": INSTANT_OR_NULL}
ATTEMPT = {"at": INSTANT, "status_code": {"type": ["integer", "null"]}, "error": {"type": "string"},
           "duration_ms": {"type": "integer"}, "address": {"type": "string"}}
DELIVERY = {"id": {"type": "integer"}, "message_id": {"type": "string", "description": "The webhook-id header."},
            "event": {"type": "string"}, "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "created_at": INSTANT, "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/"
                                                                                   "WebhookAttempt"}},
            "next_attempt_at": INSTANT_OR_NULL, "delivered_at": INSTANT_OR_NULL, "failed_at": INSTANT_OR_NULL,
            "last_status": {"type": ["integer", "null"]}, "last_error": {"type": "string"},
            "payload": {"type": "object"}}
FEED = {"id": {"type": "integer"}, "prefix": {"type": "string"}, "created_at": INSTANT,
        "last_used_at": INSTANT_OR_NULL, "revoked_at": INSTANT_OR_NULL}


def _object(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "additionalProperties": False, "required": required or list(properties),
            "properties": properties}


oas.register_schemas({
    "Webhook": _object(WEBHOOK),
    "NewWebhook": _object({**WEBHOOK, "secret": {"type": "string", "description": "The signing secret (whsec_…): "
                                                 "shown this once; verify deliveries with it."}}),
    "WebhookRequest": _object({"url": {"type": "string", "maxLength": 2000,
                                       "description": "An https:// endpoint on a public address."},
                               "events": {"type": "array", "items": EVENT, "minItems": 1}}),
    "WebhookAttempt": _object(ATTEMPT),
    "WebhookDelivery": _object(DELIVERY),
    "CalendarFeed": _object(FEED),
    "NewCalendarFeed": _object({**FEED, "url": {"type": "string", "description": "The feed's address with its "
                                                "secret: shown this once."}}),
}, pages=("Webhook", "WebhookDelivery", "CalendarFeed"))


def webhook_json(endpoint: WebhookEndpoint) -> dict:
    return {"id": endpoint.id, "url": endpoint.url, "events": endpoint.events.split(),
            "created_at": isoformat_utc(endpoint.created_at), "deleted_at": isoformat_utc(endpoint.deleted_at)}


def attempt_json(attempt: WebhookAttempt) -> dict:
    return {"at": isoformat_utc(attempt.at), "status_code": attempt.status_code, "error": attempt.error,
            "duration_ms": attempt.duration_ms, "address": attempt.address}


def delivery_state(delivery: WebhookDelivery) -> str:
    return "delivered" if delivery.delivered_at else "failed" if delivery.failed_at else "pending"


def deliveries_json(rows: list[WebhookDelivery]) -> list[dict]:
    attempts = webhooks.attempts_of(d.id for d in rows)
    return [{"id": d.id, "message_id": d.message_id, "event": d.event, "state": delivery_state(d),
             "created_at": isoformat_utc(d.created_at), "attempts": [attempt_json(a) for a in attempts.get(d.id, [])],
             "next_attempt_at": isoformat_utc(d.next_attempt_at) if delivery_state(d) == "pending" else None,
             "delivered_at": isoformat_utc(d.delivered_at), "failed_at": isoformat_utc(d.failed_at),
             "last_status": d.last_status, "last_error": d.last_error, "payload": json.loads(d.payload)}
            for d in rows]


def feed_json(feed: CalendarFeed) -> dict:
    return {"id": feed.id, "prefix": feed.prefix, "created_at": isoformat_utc(feed.created_at),
            "last_used_at": isoformat_utc(feed.last_used_at), "revoked_at": isoformat_utc(feed.revoked_at)}


@route("/webhooks", summary="Webhooks of the caller's organisation (admins only)", params=("page", "per_page"),
       response="WebhookPage", errors=(400, 404))
def list_webhooks():
    return paginate(webhooks.list_endpoints(api_user()), lambda rows: [webhook_json(w) for w in rows])


@route("/webhooks", methods=("POST",), status=201, body="WebhookRequest", response="NewWebhook",
       summary="Subscribe an https endpoint to events (the signing secret is shown once)", errors=(404, 409, 422))
def create_webhook():
    data = json_body()
    endpoint, secret = webhooks.create(api_user(), data.get("url"), data.get("events"), ip=client_ip())
    return jsonify({**webhook_json(endpoint), "secret": secret}), 201


@route("/webhooks/<int:webhook_id>", methods=("DELETE",), summary="Unsubscribe a webhook", response="Webhook",
       errors=(404,))
def delete_webhook(webhook_id: int):
    return jsonify(webhook_json(webhooks.delete(api_user(), webhook_id, ip=client_ip())))


@route("/webhooks/<int:webhook_id>/rotate-secret", methods=("POST",), response="NewWebhook", errors=(404, 409),
       summary="A new signing secret (shown once); the old one still signs alongside it for 24 hours",
       description="An addition to the webhook routes of SPEC §10, which lists no rotation: the new secret is "
                   "returned once; for 24 hours each delivery's webhook-signature carries both signatures "
                   "(Standard Webhooks), then the scheduler pass drops the old secret. A second rotation "
                   "racing this one is a 409.")
def rotate_webhook_secret(webhook_id: int):
    endpoint, secret = webhooks.rotate_secret(api_user(), webhook_id, ip=client_ip())
    return jsonify({**webhook_json(endpoint), "secret": secret})


@route("/webhooks/<int:webhook_id>/deliveries", summary="A webhook's deliveries, newest first, each with its attempts",
       params=("page", "per_page"), response="WebhookDeliveryPage", errors=(400, 404))
def webhook_deliveries(webhook_id: int):
    return paginate(webhooks.deliveries(api_user(), webhook_id, ip=client_ip()), deliveries_json)


@route("/webhooks/<int:webhook_id>/test", methods=("POST",), status=202, response="WebhookDelivery",
       summary="Queue a webhook.test event to this endpoint (sent by the next scheduler pass)", errors=(404,))
def test_webhook(webhook_id: int):
    delivery = webhooks.send_test(api_user(), webhook_id, ip=client_ip())
    return jsonify(deliveries_json([delivery])[0]), 202


@route("/calendar-feeds", summary="The caller's calendar feeds (the live one first)", params=("page", "per_page"),
       response="CalendarFeedPage", errors=(400,))
def list_calendar_feeds():
    return paginate(calendar.list_feeds(api_user()), lambda rows: [feed_json(f) for f in rows])


@route("/calendar-feeds", methods=("POST",), status=201, response="NewCalendarFeed",
       summary="Create the caller's calendar feed (its secret address is shown once)", errors=(409,))
def create_calendar_feed():
    feed, secret = calendar.create(api_user(), ip=client_ip())
    return jsonify({**feed_json(feed), "url": calendar.feed_url(secret)}), 201


@route("/calendar-feeds/<int:feed_id>", methods=("DELETE",), summary="Revoke the caller's calendar feed",
       response="CalendarFeed", errors=(404,))
def revoke_calendar_feed(feed_id: int):
    return jsonify(feed_json(calendar.revoke(api_user(), feed_id, ip=client_ip())))
