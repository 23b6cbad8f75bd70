"""In-app notifications (each also e-mailed through the outbox) and each user's delivery choice."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .org import User
from .register import Engagement

NOTIFICATION_KINDS = ("request_due", "request_overdue", "evidence_rejected", "evidence_expired", "clock_warning",
                      "clock_breached", "finding_raised", "finding_due", "finding_overdue", "comment_posted", "digest",
                      "kpi_missed", "kpi_escalated", "kpi_escalated_forum", "meeting_scheduled", "agenda_ready",
                      "action_due", "action_overdue", "change_request_pending", "request_assigned")
DELIVERY_MODES = ("immediate", "digest")


class Notification(BaseModel):
    """One message to one user, created once per (user, kind, object, occasion)."""
    user = pw.ForeignKeyField(User, backref="notifications", on_delete="CASCADE")
    kind = pw.CharField(max_length=30)
    object_type = pw.CharField(max_length=30)
    object_id = pw.IntegerField()
    occasion = pw.CharField(max_length=60)  # e.g. "due-7", "half-time", "2026-12-02"
    engagement = pw.ForeignKeyField(Engagement, null=True, on_delete="CASCADE")
    title = pw.CharField(max_length=300)
    body = pw.TextField(default="")
    link = pw.CharField(max_length=300, default="")  # path; e-mail prefixes BASE_URL
    created_at = pw.DateTimeField(default=utcnow)
    read_at = pw.DateTimeField(null=True)
    emailed = pw.BooleanField(default=False)  # queued in the outbox (immediately or in a digest)

    class Meta:
        indexes = ((("user", "kind", "object_type", "object_id", "occasion"), True),
                   (("user", "read_at", "created_at"), False),
                   (("emailed", "created_at"), False))


class NotificationSetting(BaseModel):
    user = pw.ForeignKeyField(User, unique=True, on_delete="CASCADE")
    mode = pw.CharField(max_length=10, default="immediate")  # DELIVERY_MODES


class SchedulerCursor(BaseModel):
    """Until when a time-driven job has looked (reminders, warnings): the next tick resumes there,
    so downtime misses nothing and nothing is announced twice."""
    name = pw.CharField(max_length=40, unique=True)
    at = pw.DateTimeField()
