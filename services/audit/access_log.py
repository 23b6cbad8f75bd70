"""The auditor access log: every read an auditor makes is an audit event; the client reads them back."""
from __future__ import annotations

import json
from collections.abc import Mapping

import peewee as pw

from domain.timeutil import local
from models import AuditEvent, Engagement, Evidence, EvidenceRequest, Finding, Incident, Pack, User
from services import scope

from . import audit_log

# The object a URL argument names (downloads themselves are recorded by the services that open the files:
# ``evidence.download`` in services.evidence.evidence, ``pack.download`` in services.auditors.packs).
OBJECTS = {"evidence_id": "evidence", "pack_id": "pack", "request_id": "evidence_request", "incident_id": "incident",
           "finding_id": "finding", "engagement_id": "engagement"}
# Which row of which table tells the engagement a URL argument belongs to.
OWNERS: dict[str, type[pw.Model]] = {"evidence_id": Evidence, "pack_id": Pack, "request_id": EvidenceRequest,
                                     "incident_id": Incident, "finding_id": Finding}


def engagement_of(view_args: Mapping[str, object]) -> int | None:
    """The engagement a URL is about, from its arguments (``engagement_id``, or the owner of the object)."""
    if "engagement_id" in view_args:
        return scope._row_id(view_args["engagement_id"])  # type: ignore[arg-type]
    for arg, model in OWNERS.items():
        if arg in view_args and (key := scope._row_id(view_args[arg])) is not None:  # type: ignore[arg-type]
            row = model.select(model.engagement).where(model.id == key).first()
            return row.engagement_id if row else None
    return None


def record_read(user: User, *, path: str, view_args: Mapping[str, object], status: int, ip: str) -> AuditEvent:
    """One auditor read, ``auditor.view`` with its path and status. The engagement is recorded only for reads
    that succeeded, so a probe of another client's ids does not land in that client's log."""
    object_type, object_id = next(((kind, view_args[arg]) for arg, kind in OBJECTS.items() if arg in view_args),
                                  ("", ""))
    engagement_id = engagement_of(view_args) if status < 400 else None
    return audit_log.record("auditor.view", actor=user, object_type=object_type, object_id=object_id,
                            engagement=engagement_id, ip=ip, details={"path": path, "status": status})


ACCESS_LOG_HEADERS = ("at_local", "at_utc", "auditor", "action", "path", "status", "ip", "event_hash")


def access_log(user: User, engagement: Engagement) -> pw.ModelSelect:
    return scope.auditor_reads_for(user, engagement).order_by(AuditEvent.id.desc())


def access_log_rows(events: list[AuditEvent], tz: str) -> list[tuple]:
    rows = []
    for event in events:
        details = json.loads(event.details or "{}")
        rows.append((local(event.at, tz).strftime("%Y-%m-%d %H:%M:%S %Z"), event.at.isoformat(timespec="seconds"),
                     event.actor_email, event.action, details.get("path", ""), details.get("status", ""), event.ip,
                     event.hash))
    return rows
