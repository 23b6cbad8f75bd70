"""Claiming, completing and replaying idempotency keys (see the package's docstring)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import peewee as pw

from domain.errors import Conflict, ValidationError
from models import IdempotencyKey, transaction, utcnow

MAX_KEY = 200
MAX_BODY = 256 * 1024  # a response kept for replay; a larger one (never a creating route's) is not kept
KEEP = dt.timedelta(hours=24)
BATCH = 500


@dataclass(frozen=True)
class Replay:
    """The response a key's first request got."""
    status: int
    content_type: str
    location: str
    body: str


def check_key(value: str) -> str:
    """A key is 1 to ``MAX_KEY`` printable ASCII characters (a UUID, as clients and the forms send)."""
    key = (value or "").strip()
    if not key or len(key) > MAX_KEY or not all(33 <= ord(ch) < 127 for ch in key):
        raise ValidationError(f"an idempotency key is 1 to {MAX_KEY} printable ASCII characters, no spaces",
                              field="Idempotency-Key")
    return key


def claim(user_id: int, key: str, method_path: str, now: dt.datetime | None = None) -> int | Replay:
    """Claim ``key`` for this request (its row id), or the response its first request got (a Replay). A key
    still being processed is a Conflict (409); one first used for another request a ValidationError (422)."""
    key = check_key(key)
    method_path = method_path[:500]
    try:
        with transaction():
            row = IdempotencyKey.get_or_none(IdempotencyKey.user == user_id, IdempotencyKey.key == key)
            if row is None:
                return IdempotencyKey.insert(user=user_id, key=key, method_path=method_path,
                                             created_at=now or utcnow()).execute()
    except pw.IntegrityError:  # the same key, claimed by a request running at this very moment
        row = IdempotencyKey.get(IdempotencyKey.user == user_id, IdempotencyKey.key == key)
    if row.method_path != method_path:
        raise ValidationError("this idempotency key was used for another request; send a new key",
                              field="Idempotency-Key")
    if row.status is None:
        raise Conflict("a request with this idempotency key is still being processed")
    return Replay(row.status, row.content_type, row.location, row.body)


def complete(claim_id: int, status: int, content_type: str, location: str, body: str) -> None:
    """Keep the response of the claimed key's request, for its repeats."""
    with transaction():
        (IdempotencyKey.update(status=status, content_type=content_type[:200], location=location[:2000],
                               body=body if len(body) <= MAX_BODY else "")
         .where(IdempotencyKey.id == claim_id).execute())


def release(claim_id: int) -> None:
    """The request failed (a server error, an exception): forget the key, so that a retry runs again."""
    with transaction():
        IdempotencyKey.delete().where(IdempotencyKey.id == claim_id).execute()


def purge(now: dt.datetime) -> Iterator[int]:
    """The scheduler's step: delete keys older than ``KEEP``, ``BATCH`` per transaction; yields each count."""
    while True:
        with transaction():
            ids = [i for (i,) in IdempotencyKey.select(IdempotencyKey.id)
                   .where(IdempotencyKey.created_at < now - KEEP).limit(BATCH).tuples()]
            if not ids:
                return
            IdempotencyKey.delete().where(IdempotencyKey.id.in_(ids)).execute()
        yield len(ids)
        if len(ids) < BATCH:
            return
