"""The scheduler's lease: which one of several processes runs the periodic pass.

``acquire_lease`` elects a holder through the ``scheduler_lease`` table with one conditional UPDATE (or the
first INSERT), which is atomic on SQLite and PostgreSQL alike; the holder renews it every interval, and a
lease not renewed within its time-to-live is free for another process. Leases compare the processes' own
UTC clocks: keep them in sync. The health check reads the lease to say whether a scheduler runs.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

import peewee as pw

from domain.timeutil import to_utc_naive
from models import SchedulerLease, transaction, utcnow

LEASE = "tick"


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
