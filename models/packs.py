"""Auditor PDF evidence packs and the outbound mail queue."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .org import User
from .register import Engagement

PACK_STATES = ("queued", "building", "ready", "failed")


class Pack(BaseModel):
    engagement = pw.ForeignKeyField(Engagement, backref="packs", on_delete="RESTRICT")
    frameworks = pw.TextField()  # JSON list
    period_start = pw.DateField()
    period_end = pw.DateField()
    status = pw.CharField(max_length=10, default="queued")
    progress = pw.IntegerField(default=0)
    file_sha256 = pw.CharField(max_length=64, null=True)
    error = pw.TextField(default="")
    requested_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)
    finished_at = pw.DateTimeField(null=True)


class OutboxMessage(BaseModel):
    """Mail waiting to go out (or kept, with no SMTP_URL). dedupe_key makes each mail arrive once."""
    dedupe_key = pw.CharField(max_length=200, unique=True)
    to = pw.CharField(max_length=254)
    subject = pw.CharField(max_length=300)
    body = pw.TextField()
    created_at = pw.DateTimeField(default=utcnow)
    sent_at = pw.DateTimeField(null=True)


class SchedulerLease(BaseModel):
    """Which process runs the scheduler: one row, taken and renewed with a lease."""
    name = pw.CharField(max_length=40, unique=True)
    holder = pw.CharField(max_length=120)
    expires_at = pw.DateTimeField()
    renewed_at = pw.DateTimeField(null=True)  # the holder's last renewal: /healthz reports its age
