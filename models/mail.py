"""The outbound mail queue (services/mail.py writes and sends it)."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow


class OutboxMessage(BaseModel):
    """Mail waiting to go out (or kept, with no SMTP_URL). ``dedupe_key`` makes each mail exist once;
    a sender claims a row by setting ``claim_token``/``claimed_until`` (committed before it sends), so
    two senders never send the same row and a sender that dies leaves it to be retried after the lease."""
    dedupe_key = pw.CharField(max_length=200, unique=True)
    message_id = pw.CharField(max_length=120, unique=True)  # stable, derived from dedupe_key
    to = pw.CharField(max_length=254)
    subject = pw.CharField(max_length=300)
    body = pw.TextField()
    html = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=utcnow)
    claim_token = pw.CharField(max_length=32, null=True)
    claimed_until = pw.DateTimeField(null=True)
    last_error = pw.TextField(default="")
    logged_at = pw.DateTimeField(null=True)  # written to the log (no SMTP_URL)
    failed_at = pw.DateTimeField(null=True)  # given up after too many attempts
    sent_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("sent_at", "next_attempt_at"), False),)
