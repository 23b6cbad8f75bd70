"""Evidence submitted against a request, and the history of every state change. Never deleted by users."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .org import User
from .register import Engagement, EvidenceRequest

EVIDENCE_STATES = ("submitted", "accepted", "rejected", "superseded", "expired", "withdrawn")


class Evidence(BaseModel):
    request = pw.ForeignKeyField(EvidenceRequest, backref="evidence", on_delete="RESTRICT")
    engagement = pw.ForeignKeyField(Engagement, backref="evidence", on_delete="RESTRICT")
    sha256 = pw.CharField(max_length=64, index=True)
    original_filename = pw.CharField(max_length=255)
    media_type = pw.CharField(max_length=120)
    size = pw.BigIntegerField()
    effective_date = pw.DateField()
    valid_until = pw.DateField(null=True)
    note = pw.TextField(default="")
    version = pw.IntegerField(default=1)
    status = pw.CharField(max_length=12, default="submitted")
    uploaded_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="uploads")
    uploaded_at = pw.DateTimeField(default=utcnow)
    reviewed_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="reviews")
    reviewed_at = pw.DateTimeField(null=True)
    review_comment = pw.TextField(default="")
    withdrawn_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = (
            (("request", "version"), True),
            (("engagement", "status", "uploaded_at"), False),
            # the review queue: submitted, oldest first; covering its count and paging (engagement, uploader)
            (("status", "uploaded_at", "engagement", "uploaded_by"), False),
            (("status", "valid_until"), False),  # the tick's expiry scan
            (("status", "reviewed_at"), False),  # the tick's rejection alerts
        )


class EvidenceFile(BaseModel):
    """One file of a submission: an evidence item (one version, reviewed as one) holds one or more, in the
    order they were sent. ``position`` 1 is the file the item's own columns (``sha256``, ``original_filename``,
    ``media_type``, ``size``) still describe, so that readers of a single file and the API's response shape
    keep working; every file, the first included, has its row here."""
    evidence = pw.ForeignKeyField(Evidence, backref="files", on_delete="RESTRICT")
    position = pw.IntegerField()  # 1, 2, … in the order sent
    sha256 = pw.CharField(max_length=64, index=True)
    size = pw.BigIntegerField()
    media_type = pw.CharField(max_length=120)
    original_filename = pw.CharField(max_length=255)
    storage_key = pw.CharField(max_length=128)  # where the store keeps the bytes: today their content address

    class Meta:
        indexes = (
            (("evidence", "position"), True),
            (("evidence", "sha256"), True),  # the same bytes twice in one submission are refused
        )


class RequestHistory(BaseModel):
    """One transition of a request (``subject`` request; ``evidence`` the item that moved it, if any) or of
    one of its evidence items (``subject`` evidence): who, when, from, to, why. Written in the same
    transaction as the change and its audit event; the scheduler's time-driven moves are recorded too
    (``actor`` null, ``actor_email`` "scheduler")."""
    request = pw.ForeignKeyField(EvidenceRequest, backref="history", on_delete="CASCADE")
    subject = pw.CharField(max_length=8, default="request")  # request | evidence: whose state changed
    evidence = pw.ForeignKeyField(Evidence, null=True, backref="history", on_delete="RESTRICT")  # the item concerned
    from_status = pw.CharField(max_length=12)
    to_status = pw.CharField(max_length=12)
    at = pw.DateTimeField(default=utcnow)
    actor = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    actor_email = pw.CharField(max_length=254, default="")
    reason = pw.TextField(default="")

    class Meta:
        indexes = ((("request", "at"), False),)


class RequestComment(BaseModel):
    """A comment on an evidence request, or on one of its evidence items: the provider and the client ask and
    answer without a rejection ("please add page 2"). Kept as written; never edited or deleted."""
    request = pw.ForeignKeyField(EvidenceRequest, backref="comments", on_delete="CASCADE")
    evidence = pw.ForeignKeyField(Evidence, null=True, backref="comments", on_delete="RESTRICT")
    author = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    author_email = pw.CharField(max_length=254)
    side = pw.CharField(max_length=8)  # client | provider: whose question or answer it is
    body = pw.TextField()
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("request", "created_at"), False),)
