"""The auditor access log: every read an auditor makes is an audit event; the client reads them back."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import peewee as pw

from domain.timeutil import local
from models import (
    AuditEvent,
    Control,
    Engagement,
    Evidence,
    EvidenceRequest,
    EvidenceRequirement,
    Finding,
    Incident,
    Pack,
    User,
)
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


ACCESS_LOG_HEADERS = ("at_local", "at_utc", "auditor", "action", "what", "path", "status", "ip", "event_hash")


def access_log(user: User, engagement: Engagement) -> pw.ModelSelect:
    return scope.auditor_reads_for(user, engagement).order_by(AuditEvent.id.desc())


def access_log_rows(events: list[AuditEvent], tz: str) -> list[tuple]:
    rows = []
    what = describe_reads(events)
    for event in events:
        details = json.loads(event.details or "{}")
        rows.append((local(event.at, tz).strftime("%Y-%m-%d %H:%M:%S %Z"), event.at.isoformat(timespec="seconds"),
                     event.actor_email, event.action, what[event.id], details.get("path", ""),
                     details.get("status", ""), event.ip, event.hash))
    return rows


def describe_reads(events: list[AuditEvent]) -> dict[int, str]:
    """What each read was of, in words: the evidence item (file, version, control), the pack (its period), the
    request, incident or finding; one query per kind of object, whatever the number of events."""
    ids: dict[str, set[int]] = {}
    for event in events:
        key = scope._row_id(event.object_id)
        if event.object_type in _DESCRIBERS and key is not None:
            ids.setdefault(event.object_type, set()).add(key)
    names = {kind: _DESCRIBERS[kind](sorted(keys)) for kind, keys in ids.items()}
    return {event.id: _what(event, names) for event in events}


def _what(event: AuditEvent, names: dict[str, dict[int, str]]) -> str:
    key = scope._row_id(event.object_id)
    if key is not None and key in names.get(event.object_type, {}):
        return names[event.object_type][key]
    path = json.loads(event.details or "{}").get("path", "")
    return f"page {path.split('?')[0]}" if path else event.object_type or "—"


def _evidence_names(keys: list[int]) -> dict[int, str]:
    rows = (Evidence.select(Evidence.id, Evidence.original_filename, Evidence.version, Control.code)
            .join(EvidenceRequest).join(Control).where(Evidence.id.in_(keys)).tuples())
    return {i: f"evidence #{i} “{name}” (version {version}, {code})" for i, name, version, code in rows}


def _pack_names(keys: list[int]) -> dict[int, str]:
    rows = Pack.select(Pack.id, Pack.period_start, Pack.period_end).where(Pack.id.in_(keys)).tuples()
    return {i: f"evidence pack #{i} ({start} to {end})" for i, start, end in rows}


def _request_names(keys: list[int]) -> dict[int, str]:
    rows = (EvidenceRequest.select(EvidenceRequest.id, Control.code, EvidenceRequirement.name)
            .join(Control).switch(EvidenceRequest).join(EvidenceRequirement)
            .where(EvidenceRequest.id.in_(keys)).tuples())
    return {i: f"request #{i} ({code}: {name})" for i, code, name in rows}


def _titled(model: type[pw.Model], noun: str) -> Callable[[list[int]], dict[int, str]]:
    def names(keys: list[int]) -> dict[int, str]:
        rows = model.select(model.id, model.title).where(model.id.in_(keys)).tuples()
        return {i: f"{noun} #{i} “{title}”" for i, title in rows}
    return names


def _engagement_names(keys: list[int]) -> dict[int, str]:
    rows = Engagement.select(Engagement.id, Engagement.name).where(Engagement.id.in_(keys)).tuples()
    return {i: f"engagement “{name}”" for i, name in rows}


_DESCRIBERS: dict[str, Callable[[list[int]], dict[int, str]]] = {
    "evidence": _evidence_names, "pack": _pack_names, "evidence_request": _request_names,
    "incident": _titled(Incident, "incident"), "finding": _titled(Finding, "finding"),
    "engagement": _engagement_names,
}
