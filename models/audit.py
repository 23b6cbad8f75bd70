"""Auditor grants and the append-only, hash-chained audit trail."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .org import User
from .register import Engagement


class AuditorGrant(BaseModel):
    auditor = pw.ForeignKeyField(User, backref="grants", on_delete="RESTRICT")
    engagement = pw.ForeignKeyField(Engagement, backref="grants", on_delete="RESTRICT")
    frameworks = pw.TextField()  # JSON list of framework codes
    starts_at = pw.DateTimeField()
    expires_at = pw.DateTimeField()
    granted_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="granted")
    created_at = pw.DateTimeField(default=utcnow)
    revoked_at = pw.DateTimeField(null=True)
    revoked_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="revoked")

    class Meta:
        indexes = ((("auditor", "engagement"), False),)


class AuditEvent(BaseModel):
    at = pw.DateTimeField(default=utcnow, index=True)
    actor = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    actor_email = pw.CharField(max_length=254, default="")
    action = pw.CharField(max_length=40)
    object_type = pw.CharField(max_length=40, default="")
    object_id = pw.CharField(max_length=40, default="")
    engagement = pw.ForeignKeyField(Engagement, null=True, on_delete="RESTRICT")
    ip = pw.CharField(max_length=64, default="")
    details = pw.TextField(default="{}")
    prev_hash = pw.CharField(max_length=64, unique=True)  # unique: the chain cannot fork
    hash = pw.CharField(max_length=64, unique=True)

    class Meta:
        # engagement/action/actor: the filters of GET /audit-events; UPDATE and DELETE are refused by triggers
        indexes = ((("engagement", "at"), False), (("action", "at"), False), (("actor_email", "at"), False))
