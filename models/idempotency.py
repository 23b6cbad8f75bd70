"""Idempotency keys: a creating request's key and the response it got, so that a repeat replays it."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .org import User


class IdempotencyKey(BaseModel):
    """One key of one user (an API ``Idempotency-Key`` header or a form's hidden ``idempotency_key``), the request it
    was first used for (``method_path``), and that request's response once it has one (``status`` NULL: still
    being processed)."""
    user = pw.ForeignKeyField(User, on_delete="CASCADE")
    key = pw.CharField(max_length=200)
    method_path = pw.CharField(max_length=500)
    status = pw.IntegerField(null=True)
    content_type = pw.CharField(max_length=200, default="")
    location = pw.CharField(max_length=2000, default="")
    body = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "key"), True), (("created_at",), False))
