"""The append-only, hash-chained audit trail.

Each event's hash covers its content and the previous event's hash. ``prev_hash`` is
unique, so two writers racing for the same tail cannot fork the chain: the loser
gets an IntegrityError and retries on the new tail.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import peewee as pw

from models import AuditEvent, Engagement, User, transaction, utcnow

GENESIS = "0" * 64
_RETRIES = 20


def _digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _content(event: AuditEvent) -> dict[str, Any]:
    return {
        "prev_hash": event.prev_hash,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor_email": event.actor_email,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "engagement_id": event.engagement_id,
        "ip": event.ip,
        "details": event.details,
    }


def _tail_hash() -> str:
    last = AuditEvent.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).first()
    return last.hash if last else GENESIS


def record(action: str, *, actor: User | None = None, object_type: str = "", object_id: Any = "",
           engagement: Engagement | int | None = None, ip: str = "", details: dict | None = None,
           actor_email: str | None = None) -> AuditEvent:
    """Append one event to the chain."""
    engagement_id = engagement.id if isinstance(engagement, Engagement) else engagement
    for _ in range(_RETRIES):
        try:
            with transaction():
                event = AuditEvent(
                    at=utcnow(), actor=actor, actor_email=actor_email or (actor.email if actor else ""),
                    action=action, object_type=object_type, object_id=str(object_id or ""),
                    engagement=engagement_id, ip=ip or "",
                    details=json.dumps(details or {}, sort_keys=True, default=str),
                    prev_hash=_tail_hash())
                event.hash = _digest(_content(event))
                event.save(force_insert=True)
                return event
        except pw.IntegrityError:
            continue
    raise RuntimeError("could not append to the audit chain: too much contention")


def verify_chain() -> list[str]:
    """Every break in the chain, as readable lines; empty when intact."""
    problems: list[str] = []
    expected_prev = GENESIS
    for event in AuditEvent.select().order_by(AuditEvent.id).iterator():
        if event.prev_hash != expected_prev:
            problems.append(f"event {event.id}: prev_hash does not match the event before it (deleted or reordered)")
        if _digest(_content(event)) != event.hash:
            problems.append(f"event {event.id}: content does not match its hash (altered)")
        expected_prev = event.hash
    return problems
