"""Findings: raised by hand, by breached clocks, by the governance rule (a control missed in two
consecutive periods), by repeated rejections and by auditors; answered with a corrective action plan
and closed by the client with evidence (``domain.findings``).

Other capabilities raise findings with ``raise_finding``, e.g. an auditor's observation::

    from services.incidents.findings import raise_finding
    finding = raise_finding(engagement, source="auditor", title="...", raised_by=auditor, severity="high")

``key`` makes an automatic finding idempotent: raising the same key again returns the first one.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import peewee as pw

from domain.errors import NotFound, ValidationError
from domain.findings import FINAL_STATES, FindingError, check_move
from domain.timeutil import local, parse_date
from models import (
    AuditEvent,
    Clock,
    Control,
    Engagement,
    Evidence,
    EvidenceRequest,
    EvidenceRequirement,
    Finding,
    Incident,
    User,
    transaction,
    utcnow,
)
from models.incidents import FINDING_SEVERITIES, FINDING_SOURCES
from services import scope
from services.audit import audit_log
from services.integrations import webhooks
from services.messages import notifications
from services.text import clean_text


def raise_finding(engagement: Engagement, *, source: str, title: str, severity: str = "medium",
                  description: str = "", due_date: dt.date | None = None, owner: User | None = None,
                  raised_by: User | None = None, request: EvidenceRequest | None = None,
                  incident: Incident | None = None, clock: Clock | None = None, key: str | None = None,
                  ip: str = "", now: dt.datetime | None = None) -> Finding:
    """Raise a finding (status ``open``), record ``finding.create`` and notify the owner and the client's
    risk team. With ``key``, a finding already raised under it is returned unchanged."""
    if source not in FINDING_SOURCES:
        raise ValidationError(f"unknown source {source!r}; use one of {', '.join(FINDING_SOURCES)}", field="source")
    if severity not in FINDING_SEVERITIES:
        raise ValidationError(f"severity must be one of {', '.join(FINDING_SEVERITIES)}", field="severity")
    now = now or utcnow()
    with transaction():
        if key is not None:
            existing = Finding.get_or_none(Finding.key == key)
            if existing is not None:
                return existing
        finding = Finding.create(engagement=engagement.id, source=source, severity=severity, title=title[:200],
                                 description=description, due_date=due_date, owner=owner.id if owner else None,
                                 raised_by=raised_by.id if raised_by else None, request=request.id if request else None,
                                 incident=incident.id if incident else None, clock=clock.id if clock else None,
                                 key=key, created_at=now)
        audit_log.record("finding.create", actor=raised_by, actor_email=None if raised_by else "system",
                         object_type="finding", object_id=finding.id, engagement=engagement, ip=ip,
                         details={"source": source, "title": finding.title, "severity": severity,
                                  "due_date": due_date.isoformat() if due_date else None})
        risk = notifications.engagement_users([engagement.id], ("client",), ("client_admin", "risk_reviewer"))
        recipients = set(risk[engagement.id]) | ({owner.id} if owner else set())
        notifications.notify(recipients, "finding_raised", "finding", finding.id, "raised",
                             title=f"Finding raised: {finding.title}", body=description[:500],
                             link=f"/findings/{finding.id}", engagement_id=engagement.id, now=now)
        webhooks.emit("finding.raised", engagement, object_type="finding", object_id=finding.id,
                      title=f"Finding raised: {finding.title}", path=f"/findings/{finding.id}", occasion="raised",
                      extra={"severity": severity, "source": source, "status": finding.status,
                             "due_date": due_date.isoformat() if due_date else None}, now=now)
    return finding


def findings_for(user: User, engagement: Engagement | None = None) -> pw.ModelSelect:
    """Findings the user may see: one engagement's, or across every engagement in scope."""
    scoped = scope.findings_across(user) if engagement is None else scope.findings_for(user, engagement)
    query = Finding.select(Finding, Engagement).join(Engagement).where(Finding.id.in_(scoped.select(Finding.id)))
    return query.order_by(Finding.status.in_(FINAL_STATES), Finding.due_date.asc(nulls="LAST"), Finding.id.desc())


def finding_for(user: User, finding_id: int, action: str = "view") -> Finding:
    row = Finding.get_or_none(Finding.id == finding_id) if 0 < finding_id < 2**63 else None
    if row is None:
        raise NotFound("finding not found")
    engagement = scope.engagement_of(user, row.engagement_id, action, "finding")  # outside the caller's scope
    if not scope.findings_for(user, engagement).where(Finding.id == row.id).exists():
        raise NotFound("finding not found")  # an auditor's: one of a framework outside its grant
    return row


def _owner(engagement: Engagement, value: Any) -> User | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValidationError("owner must be a user's e-mail", field="owner")
    user = User.get_or_none(pw.fn.LOWER(User.email) == value.strip().lower())
    if user is None or user.organisation_id not in (engagement.client_id, engagement.provider_id):
        raise ValidationError(f"owner {value!r} is not a user of this engagement's client or provider", field="owner")
    return user


def _due(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValidationError("due_date must be a date (YYYY-MM-DD)", field="due_date")
    try:
        return parse_date(value)
    except ValueError as exc:
        raise ValidationError(str(exc), field="due_date") from None


def _today(engagement: Engagement) -> dt.date:
    return local(utcnow(), engagement.timezone).date()


def create_from_input(user: User, engagement: Engagement, data: dict, ip: str = "") -> Finding:
    """A finding raised by hand (risk team or auditor). Its due date is today or later (the engagement's local
    date): a new finding due in the past would be overdue before anyone could act on it, a typo of the year."""
    title = clean_text(data, "title", limit=200)
    due = _due(data.get("due_date"))
    if due is not None and due < _today(engagement):
        raise ValidationError(f"due_date {due.isoformat()} is in the past (today is {_today(engagement).isoformat()} "
                              "in the engagement's timezone): a new finding is due today or later", field="due_date")
    return raise_finding(engagement, source="auditor" if user.role == "auditor" else "manual", title=title,
                         severity=(data.get("severity") or "medium"), owner=_owner(engagement, data.get("owner")),
                         description=clean_text(data, "description", required=False, limit=5000, multiline=True),
                         due_date=due, raised_by=user, ip=ip)


def past_due_warning(finding: Finding) -> str | None:
    """Said when an edit leaves a finding that is still to be worked due in the past. Kept, not refused: an edit
    may record an extension agreed late or correct a date after the fact, but it makes the finding overdue now."""
    if finding.due_date is None or finding.status in FINAL_STATES:
        return None
    today = _today(Engagement.get_by_id(finding.engagement_id))
    if finding.due_date >= today:
        return None
    return (f"due_date {finding.due_date.isoformat()} is in the past (today is {today.isoformat()} in the "
            "engagement's timezone): the finding is overdue from now on")


EDITABLE_BY_CLIENT = ("title", "severity", "owner", "due_date", "description")


def update_from_input(user: User, finding: Finding, data: dict, ip: str = "",
                      now: dt.datetime | None = None) -> Finding:
    """PATCH a finding: the provider submits its plan; the client edits, accepts or returns the plan and
    closes with evidence. A status move that skips a state is refused (422); nothing changes on error."""
    now = now or utcnow()
    engagement = Engagement.get_by_id(finding.engagement_id)
    side = "provider" if scope.permits(user, "answer_finding") else "client"
    if side == "client" and not scope.permits(user, "review"):  # the client's risk team, not auditors
        raise NotFound("finding not found")
    unknown = set(data) - {"status", "action_plan", "closure_evidence_id", "closure_note", "reason",
                           *EDITABLE_BY_CLIENT}
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    changes: dict[str, Any] = {}
    if "action_plan" in data:
        if side != "provider":
            raise ValidationError("the provider writes the corrective action plan", field="action_plan")
        changes["action_plan"] = clean_text(data, "action_plan", limit=10000, multiline=True)
    for name in EDITABLE_BY_CLIENT:
        if name in data and side != "client":
            raise ValidationError(f"only the client may change {name}", field=name)
    if "title" in data:
        changes["title"] = clean_text(data, "title", limit=200)
    if "description" in data:
        changes["description"] = clean_text(data, "description", required=False, limit=5000, multiline=True)
    if "severity" in data:
        if data["severity"] not in FINDING_SEVERITIES:
            raise ValidationError(f"severity must be one of {', '.join(FINDING_SEVERITIES)}", field="severity")
        changes["severity"] = data["severity"]
    if "owner" in data:
        owner = _owner(engagement, data["owner"])
        changes["owner"] = owner.id if owner else None
    if "due_date" in data:
        changes["due_date"] = _due(data["due_date"])
    evidence = _closure_evidence(engagement, data.get("closure_evidence_id"))
    if "closure_note" in data:
        changes["closure_note"] = clean_text(data, "closure_note", required=False, limit=5000, multiline=True)
    reason = clean_text(data, "reason", required=False, limit=2000, multiline=True)
    status = data.get("status")
    if status is not None and status != finding.status:
        if not isinstance(status, str):
            raise ValidationError("status must be text", field="status")
        try:
            check_move(finding.status, status, side, action_plan=changes.get("action_plan", finding.action_plan),
                       closure_evidence=evidence is not None, reason=reason)
        except FindingError as exc:
            raise ValidationError(str(exc), field=exc.field) from None
        changes["status"] = status
        if status == "closed":
            changes.update(closed_at=now, closure_evidence=evidence.id)
    elif evidence is not None:
        raise ValidationError("closure evidence is given when closing the finding", field="closure_evidence_id")
    if not changes:
        return finding
    with transaction():
        updated = (Finding.update(**changes)
                   .where(Finding.id == finding.id, Finding.status == finding.status).execute())
        if not updated:
            raise ValidationError("the finding changed meanwhile; reload and try again", field="status")
        details = {k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in changes.items()}
        if reason:
            details["reason"] = reason
        event = audit_log.record("finding.update" if "status" not in changes else f"finding.{changes['status']}",
                                 actor=user, object_type="finding", object_id=finding.id, engagement=engagement,
                                 ip=ip, details={"from": finding.status, **details} if "status" in changes else details)
        status_now = changes.get("status", finding.status)
        webhooks.emit("finding.changed", engagement, object_type="finding", object_id=finding.id,
                      title=f"Finding {status_now.replace('_', ' ')}: {changes.get('title', finding.title)}",
                      path=f"/findings/{finding.id}", occasion=f"audit:{event.id}",
                      extra={"status": status_now, "changed": sorted(changes)}, now=now)
    return Finding.get_by_id(finding.id)


def _closure_evidence(engagement: Engagement, value: Any) -> Evidence | None:
    """The evidence that verifies closure: an accepted item of this engagement (``closure_candidates`` offers them),
    never a withdrawn, rejected or pending file, nor another engagement's."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("closure_evidence_id must be an evidence id", field="closure_evidence_id")
    row = Evidence.get_or_none(Evidence.id == value, Evidence.engagement == engagement.id) if 0 < value < 2**63 \
        else None
    if row is None:
        raise ValidationError("no such evidence on this engagement", field="closure_evidence_id")
    if row.status != "accepted":
        raise ValidationError(f"closure needs accepted evidence; evidence #{row.id} is {row.status}",
                              field="closure_evidence_id")
    return row


CANDIDATES = 200


def closure_candidates(finding: Finding) -> list[Evidence]:
    """The engagement's accepted evidence to verify a closure with: the finding's own request's first, then its
    control's, then the most recently accepted; request, control and requirement joined for their labels."""
    own_request = finding.request_id or 0
    own_control = (EvidenceRequest.select(EvidenceRequest.control).where(EvidenceRequest.id == own_request)
                   .scalar() or 0)
    rank = pw.Case(None, ((Evidence.request == own_request, 0), (EvidenceRequest.control == own_control, 1)), 2)
    return list(Evidence.select(Evidence, EvidenceRequest, Control, EvidenceRequirement)
                .join(EvidenceRequest, attr="request").join(Control, attr="control").switch(EvidenceRequest)
                .join(EvidenceRequirement, attr="requirement")
                .where(Evidence.engagement == finding.engagement_id, Evidence.status == "accepted")
                .order_by(rank, Evidence.reviewed_at.desc(), Evidence.id.desc()).limit(CANDIDATES))


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    actor: str
    action: str  # finding.create, finding.plan_submitted, finding.open (returned), finding.update, ...
    status_from: str | None
    status_to: str | None
    reason: str
    details: dict


def timeline(finding: Finding) -> list[TimelineEntry]:
    """Every change of the finding with who and why, oldest first, from its audit events (one query)."""
    entries = []
    for event in (AuditEvent.select().where(AuditEvent.object_type == "finding",
                                            AuditEvent.object_id == str(finding.id))
                  .order_by(AuditEvent.id)):
        details = json.loads(event.details or "{}")
        entries.append(TimelineEntry(event.at, event.actor_email or "Attest", event.action, details.get("from"),
                                     details.get("status"), details.get("reason", ""), details))
    return entries


def finding_json(f: Finding) -> dict:
    return {"id": f.id, "engagement_id": f.engagement_id, "title": f.title, "source": f.source,
            "severity": f.severity, "owner": f.owner.email if f.owner_id else None,
            "due_date": f.due_date.isoformat() if f.due_date else None, "action_plan": f.action_plan,
            "status": f.status, "description": f.description, "request_id": f.request_id,
            "incident_id": f.incident_id, "clock_id": f.clock_id, "closure_evidence_id": f.closure_evidence_id,
            "closure_note": f.closure_note, "created_at": f.created_at.isoformat(timespec="seconds") + "Z",
            "closed_at": f.closed_at.isoformat(timespec="seconds") + "Z" if f.closed_at else None}
