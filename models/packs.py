"""Auditor PDF evidence packs and the scheduler lease."""
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
    size = pw.BigIntegerField(null=True)
    head_hash = pw.CharField(max_length=64, null=True)  # the audit trail's head hash at build time
    claimed_by = pw.CharField(max_length=120, default="")  # the worker building it
    claimed_at = pw.DateTimeField(null=True)
    requested_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)
    finished_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "created_at"), False), (("engagement", "created_at"), False))


class SchedulerLease(BaseModel):
    """Which process runs the scheduler: one row, taken and renewed with a lease."""
    name = pw.CharField(max_length=40, unique=True)
    holder = pw.CharField(max_length=120)
    expires_at = pw.DateTimeField()
    renewed_at = pw.DateTimeField(null=True)  # the holder's last renewal: /healthz reports its age
