"""The append-only, hash-chained audit trail.

Each event's hash covers every column of its row (``id``, time, actor id and e-mail, action, object,
engagement, client address, details) and the previous event's hash, so changing any of them, the actor's
id included, is detected by ``verify_chain``. The database refuses UPDATE and DELETE on ``audit_event``
(triggers, migration 004); the chain shows a change made by someone who bypasses them.

Appending happens inside the caller's transaction, so a change and its audit event commit or fail
together. Appenders are serialised so that each reads the true tail: on SQLite the transaction already
holds the write lock (``BEGIN IMMEDIATE``), on PostgreSQL a transaction-scoped advisory lock is taken.
``prev_hash`` is unique as well, so even a writer that skipped the lock could not fork the chain.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import peewee as pw

from domain.errors import ValidationError
from domain.timeutil import parse_date, parse_instant, start_of_local_day
from models import AuditEvent, Engagement, User, db, is_postgres, serialise_writers, transaction, utcnow

GENESIS = "0" * 64
_RETRIES = 20
HASHED_COLUMNS = ("id", "at", "actor_id", "actor_email", "action", "object_type", "object_id", "engagement_id",
                  "ip", "details", "prev_hash")


def _digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _content(event: AuditEvent) -> dict[str, Any]:
    """Every column but ``hash`` itself, as hashed (a check in the tests keeps this list complete)."""
    return {
        "id": event.id,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_email": event.actor_email,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "engagement_id": event.engagement_id,
        "ip": event.ip,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }


def event_hash(event: AuditEvent) -> str:
    return _digest(_content(event))


def _tail() -> tuple[int, str]:
    last = AuditEvent.select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).first()
    return (last.id, last.hash) if last else (0, GENESIS)


def _next_ids(tail_id: int, count: int) -> list[int]:
    """Ids for ``count`` new events, known before insertion because they are hashed."""
    if is_postgres():
        sql = "SELECT nextval(pg_get_serial_sequence('audit_event', 'id')) FROM generate_series(1, %s)"
        return sorted(row[0] for row in db.execute_sql(sql, (count,)).fetchall())
    return list(range(tail_id + 1, tail_id + 1 + count))


def event_row(action: str, *, actor: User | None = None, object_type: str = "", object_id: Any = "",
              engagement: Engagement | int | None = None, ip: str = "", details: dict | None = None,
              actor_email: str | None = None, at=None) -> dict[str, Any]:
    """The columns of one event to append (without id and hashes)."""
    return {
        "at": at or utcnow(), "actor": actor.id if actor else None,
        "actor_email": actor_email if actor_email is not None else (actor.email if actor else ""),
        "action": action, "object_type": object_type, "object_id": str(object_id or ""),
        "engagement": engagement.id if isinstance(engagement, Engagement) else engagement, "ip": (ip or "")[:64],
        "details": json.dumps(details or {}, sort_keys=True, default=str)}


def append(rows: Iterable[dict[str, Any]]) -> list[AuditEvent]:
    """Append events (``event_row`` dicts, oldest first) to the chain in one insert, inside the caller's
    transaction (or one of their own)."""
    rows = list(rows)
    if not rows:
        return []
    for _ in range(_RETRIES):
        try:
            with transaction():
                serialise_writers("audit_event.tail")
                tail_id, prev = _tail()
                events = []
                for event_id, row in zip(_next_ids(tail_id, len(rows)), rows, strict=True):
                    event = AuditEvent(id=event_id, prev_hash=prev, **row)
                    event.hash = prev = event_hash(event)
                    events.append(event)
                AuditEvent.insert_many([{**row, "id": e.id, "prev_hash": e.prev_hash, "hash": e.hash}
                                        for row, e in zip(rows, events, strict=True)]).execute()
                return events
        except pw.IntegrityError:  # only without the lock (a writer bypassing append): retry on the new tail
            continue
    raise RuntimeError("could not append to the audit chain: too much contention")


def record(action: str, **fields: Any) -> AuditEvent:
    """Append one event (see ``event_row`` for the fields) inside the caller's transaction."""
    return append([event_row(action, **fields)])[0]


# ------------------------------------------------------------------------------------------------ reading

def _boundary(args: Mapping[str, str], name: str, tz: str) -> dt.datetime | None:
    """``from`` / ``to``: a date (whole local days of ``tz``, both ends included) or an instant with offset."""
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        if "T" in text:  # an instant: ``to`` includes it
            return parse_instant(text) + dt.timedelta(microseconds=1 if name == "to" else 0)
        day = parse_date(text)
        return start_of_local_day(day + dt.timedelta(days=1) if name == "to" else day, tz)
    except (ValueError, OverflowError):
        raise ValidationError(f"{name} must be a date (YYYY-MM-DD) or a date-time with offset", field=name) from None


def filter_events(query: pw.ModelSelect, args: Mapping[str, str], tz: str = "UTC") -> pw.ModelSelect:
    """Narrow a scoped event query (``services.scope.audit_events_for``) by ``action`` (comma list),
    ``actor`` (e-mail) and ``from`` / ``to``; newest first. ValidationError on bad values."""
    actions = [a.strip() for a in (args.get("action") or "").split(",") if a.strip()]
    if any(len(a) > 40 for a in actions):
        raise ValidationError("action names are at most 40 characters", field="action")
    if actions:
        query = query.where(AuditEvent.action.in_(actions))
    actor = (args.get("actor") or "").strip().lower()
    if len(actor) > 254:
        raise ValidationError("actor must be an e-mail address", field="actor")
    if actor:
        query = query.where(AuditEvent.actor_email == actor)
    start, end = _boundary(args, "from", tz), _boundary(args, "to", tz)
    if start and end and start >= end:
        raise ValidationError("from must not be after to", field="from")
    if start:
        query = query.where(AuditEvent.at >= start)
    if end:
        query = query.where(AuditEvent.at < end)
    return query.order_by(AuditEvent.id.desc())


def actions_in(query: pw.ModelSelect) -> list[str]:
    """The distinct actions of a scoped query (the page's action filter offers these)."""
    return [a for (a,) in query.select(AuditEvent.action).distinct().order_by(AuditEvent.action).tuples()]


def details_of(event: AuditEvent) -> dict:
    try:
        value = json.loads(event.details or "{}")
    except ValueError:
        return {"unreadable": event.details}
    return value if isinstance(value, dict) else {"value": value}


def parse_anchor(text: str) -> tuple[str, int]:
    """``HASH@ID`` (a head written down apart from the database: a pack, a backup, the daily log line)."""
    digest, _, event_id = (text or "").strip().partition("@")
    if not (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
            and event_id.isascii() and event_id.isdigit() and 0 < int(event_id) < 2**63):
        raise ValueError("an anchor is HASH@ID: the 64 hex digits of an event's hash, '@', and its id")
    return digest, int(event_id)


def head() -> tuple[str, int] | None:
    """The newest event's (hash, id): the anchor to keep apart from the database."""
    row = AuditEvent.select(AuditEvent.hash, AuditEvent.id).order_by(AuditEvent.id.desc()).first()
    return None if row is None else (row.hash, row.id)


def _check_anchor(anchor: tuple[str, int]) -> list[str]:
    digest, event_id = anchor
    event = AuditEvent.get_or_none(AuditEvent.id == event_id)
    if event is None:
        return [f"anchor {digest}@{event_id}: event {event_id} is gone (events cut from the end of the trail?)"]
    if event.hash != digest:
        return [f"anchor {digest}@{event_id}: event {event_id} now hashes to {event.hash} "
                "(the trail was re-chained after the anchor was taken)"]
    return []


def verify_chain(anchor: tuple[str, int] | None = None) -> list[str]:
    """Every break in the chain, as readable lines; empty when intact. With an ``anchor`` (a head kept apart:
    hash and id), also that the trail still holds that event with that hash — the one thing the chain alone
    cannot show, since rows cut from its end or a chain re-computed from the start leave it consistent."""
    problems: list[str] = [] if anchor is None else _check_anchor(anchor)
    expected_prev = GENESIS
    for event in AuditEvent.select().order_by(AuditEvent.id).iterator():
        if event.prev_hash != expected_prev:
            problems.append(f"event {event.id}: prev_hash does not match the event before it (deleted or reordered)")
        if event_hash(event) != event.hash:
            problems.append(f"event {event.id}: content does not match its hash (altered)")
        expected_prev = event.hash
    return problems
