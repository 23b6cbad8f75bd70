"""Signed webhooks (endpoints, the delivery outbox, each attempt) and calendar feeds (SPEC §10)."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .org import Organisation, User


class WebhookEndpoint(BaseModel):
    """An organisation's HTTPS endpoint and the events it wants; the signing secret is kept encrypted
    (``services.integrations.crypto``) and shown once, at creation. Deleting keeps the row (its log stays)."""
    organisation = pw.ForeignKeyField(Organisation, backref="webhooks", on_delete="CASCADE")
    url = pw.CharField(max_length=2000)
    events = pw.TextField()  # space-separated event names
    secret_encrypted = pw.TextField()
    previous_secret_encrypted = pw.TextField(null=True)  # after a rotation: still signs, until ...
    previous_secret_until = pw.DateTimeField(null=True)  # ... this instant, then dropped
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = pw.DateTimeField(default=utcnow)
    deleted_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("organisation", "deleted_at"), False),)


class WebhookDelivery(BaseModel):
    """The outbox: one row per (event, endpoint), written in the transaction of the change that caused it.
    ``message_id`` is the ``webhook-id`` header, the same on every retry, so a receiver can drop duplicates."""
    endpoint = pw.ForeignKeyField(WebhookEndpoint, backref="deliveries", on_delete="CASCADE")
    message_id = pw.CharField(max_length=64)
    event = pw.CharField(max_length=40)
    payload = pw.TextField()
    created_at = pw.DateTimeField(default=utcnow)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=utcnow)
    claim_token = pw.CharField(max_length=32, null=True)
    claimed_until = pw.DateTimeField(null=True)
    delivered_at = pw.DateTimeField(null=True)
    failed_at = pw.DateTimeField(null=True)  # given up after the last retry
    last_status = pw.IntegerField(null=True)
    last_error = pw.TextField(default="")

    class Meta:
        indexes = (
            (("endpoint", "message_id"), True),
            (("delivered_at", "failed_at", "next_attempt_at"), False),
            (("endpoint", "created_at"), False),
        )


class WebhookAttempt(BaseModel):
    """One try at sending a delivery: what the endpoint answered, or why nothing was sent."""
    delivery = pw.ForeignKeyField(WebhookDelivery, backref="attempt_log", on_delete="CASCADE")
    at = pw.DateTimeField(default=utcnow)
    status_code = pw.IntegerField(null=True)
    error = pw.TextField(default="")
    duration_ms = pw.IntegerField(default=0)
    address = pw.CharField(max_length=64, default="")  # the checked IP the request went to

    class Meta:
        indexes = ((("delivery", "at"), False),)


class CalendarFeed(BaseModel):
    """A user's secret ``.ics`` address; only the SHA-256 of its secret is kept."""
    user = pw.ForeignKeyField(User, backref="calendar_feeds", on_delete="CASCADE")
    secret_hash = pw.CharField(max_length=64, unique=True)
    prefix = pw.CharField(max_length=12)
    created_at = pw.DateTimeField(default=utcnow)
    last_used_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("user", "revoked_at"), False),)
