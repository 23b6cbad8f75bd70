"""The scheduler's lease: which one of several processes runs the periodic pass.

``acquire_lease`` elects a holder through the ``scheduler_lease`` table with one conditional UPDATE (or the
first INSERT), which is atomic on SQLite and PostgreSQL alike; the holder renews it every interval, and a
lease not renewed within its time-to-live is free for another process. Leases compare the processes' own
UTC clocks: keep them in sync. The health check reads the lease to say whether a scheduler runs.

``pass_lock`` keeps passes from overlapping whatever the leases say (a pass slower than its lease, a manual
``flask tick``). A pass is many short transactions, so the lock cannot be a transaction's: on PostgreSQL it is a
session-level advisory lock, on SQLite an exclusive ``flock`` on a file beside the database. Both are released
by the operating system or the server when the process dies, so a pass killed between two batches never keeps
the next one waiting.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import socket
import uuid

import peewee as pw

from domain.timeutil import to_utc_naive
from models import SchedulerLease, db, is_postgres, transaction, utcnow

LEASE = "tick"
PASS_LOCK = 0x4174_7465_7374  # "Attest": the advisory lock that serialises passes on PostgreSQL


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:120]


def _ttl(ttl: float | dt.timedelta) -> dt.timedelta:
    return ttl if isinstance(ttl, dt.timedelta) else dt.timedelta(seconds=ttl)


def acquire_lease(name: str, holder: str, ttl: float | dt.timedelta, *, now: dt.datetime | None = None) -> bool:
    """Take the lease ``name`` for ``ttl`` (seconds) if it is free or expired, or renew it if ``holder``
    already has it. Safe across processes: one conditional UPDATE, or the first INSERT (unique name)."""
    now = utcnow() if now is None else to_utc_naive(now) if now.tzinfo is not None else now
    expires = now + _ttl(ttl)
    with transaction():
        taken = (SchedulerLease.update(holder=holder, expires_at=expires, renewed_at=now)
                 .where(SchedulerLease.name == name,
                        (SchedulerLease.holder == holder) | (SchedulerLease.expires_at < now))
                 .execute())
    if taken:
        return True
    if SchedulerLease.select().where(SchedulerLease.name == name).exists():
        return False  # someone else holds it
    try:
        with transaction():
            SchedulerLease.insert(name=name, holder=holder, expires_at=expires, renewed_at=now).execute()
        return True
    except pw.IntegrityError:  # another process inserted it first
        return False


def release_lease(name: str, holder: str) -> bool:
    """Give the lease up (on shutdown) so another process can take over at its next run."""
    with transaction():
        return bool(SchedulerLease.update(expires_at=dt.datetime(2000, 1, 1))
                    .where(SchedulerLease.name == name, SchedulerLease.holder == holder).execute())


@contextlib.contextmanager
def pass_lock():
    """Hold the scheduler pass lock for the block, waiting for a pass of another process or thread to end."""
    if is_postgres():
        db.execute_sql("SELECT pg_advisory_lock(%s)", (PASS_LOCK,))
        try:
            yield
        finally:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (PASS_LOCK,))
        return
    path = getattr(db.obj, "database", "") or ""
    if path in ("", ":memory:") or path.startswith("file:"):
        yield  # an in-memory database lives in one connection: nothing else can run a pass on it
        return
    with open(f"{path}.pass-lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
