"""What a load balancer asks: can this process reach its database and write to its evidence store, and is
a scheduler alive somewhere (GET /healthz)."""
from __future__ import annotations

import logging

from models import SchedulerLease, db, utcnow
from services.alerts.lease import LEASE

log = logging.getLogger("attest.health")


def _database() -> dict:
    try:
        db.connect(reuse_if_open=True)
        db.execute_sql("SELECT 1")
        return {"status": "ok"}
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; the reason is reported
        log.warning("health: database unreachable: %s", exc)
        _discard_connection()
        return {"status": "failing", "error": f"database unreachable: {type(exc).__name__}"}


def _discard_connection() -> None:
    try:
        if not db.is_closed():
            db.close()
    except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped either way
        pass


def _store(store) -> dict:
    try:
        store.check()
        return {"status": "ok"}
    except Exception as exc:  # noqa: BLE001
        log.warning("health: evidence store not writable: %s", exc)
        return {"status": "failing", "error": "evidence store not writable"}


def _scheduler() -> dict:
    """The lease's holder and the age of its last renewal. Informational: a web process is still healthy
    when no scheduler runs (status "stale" or "none"), so a load balancer keeps serving."""
    try:
        lease = SchedulerLease.get_or_none(SchedulerLease.name == LEASE)
    except Exception:  # noqa: BLE001 - already reported under "database"
        return {"status": "unknown"}
    if lease is None:
        return {"status": "none"}
    now = utcnow()
    age = (now - lease.renewed_at).total_seconds() if lease.renewed_at else None
    return {"status": "ok" if lease.expires_at >= now else "stale", "holder": lease.holder,
            "lease_age_seconds": None if age is None else round(age, 1),
            "expires_in_seconds": round((lease.expires_at - now).total_seconds(), 1)}


def health(store) -> tuple[bool, dict]:
    """(healthy, report): healthy when the database answers and the store takes a write."""
    checks = {"database": _database(), "evidence_store": _store(store)}
    healthy = all(c["status"] == "ok" for c in checks.values())
    checks["scheduler"] = _scheduler() if checks["database"]["status"] == "ok" else {"status": "unknown"}
    return healthy, {"status": "ok" if healthy else "failing", "checks": checks}
