"""Change events (SPEC §2 Change event, §5 ``POST /engagements/<id>/changes``): a significant change, a new
sub-contractor or an offshoring opens the event-driven evidence requests of every applicable control whose
library entry names that trigger (``controls/*.yaml`` ``triggers``).

Each opened request covers the local day of the change and is due ``EVENT_DUE_DAYS`` later (end of that
local day). Requests are unique per (engagement, requirement, period start): a second change on the same
day links the request already opened instead of duplicating it.
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from domain.errors import Conflict, ValidationError
from domain.schedule import can_move
from domain.timeutil import end_of_local_day, local
from models import (
    Applicability,
    ChangeEvent,
    ChangeEventRequest,
    Control,
    Engagement,
    Evidence,
    EvidenceRequest,
    EvidenceRequirement,
    RequestHistory,
    User,
    transaction,
    utcnow,
)
from models.incidents import CHANGE_KINDS
from services import scope
from services.audit import audit_log
from services.people import owners
from services.text import clean_text

from .incidents import parse_time

EVENT_DUE_DAYS = 30
VOIDABLE = ("open", "overdue", "upcoming")  # the states a voided change's requests are retired from


def triggered_requirements(engagement: Engagement, kind: str) -> list[tuple[int, int]]:
    """(control id, requirement id) of the engagement's applicable live controls triggered by ``kind``."""
    rows = (EvidenceRequirement.select(Control.id, EvidenceRequirement.id, Control.triggers)
            .join(Control)
            .join(Applicability, on=((Applicability.control == Control.id)
                                     & (Applicability.engagement == engagement.id)))
            .where(Applicability.applicable == True, Control.retired_in.is_null(),  # noqa: E712
                   EvidenceRequirement.retired_in.is_null(), Control.triggers.contains(kind))
            .order_by(Control.code, EvidenceRequirement.key).tuples())
    return [(control, requirement) for control, requirement, triggers in rows if kind in triggers.split(",")]


def create_change(user: User, engagement: Engagement, data: dict, *, ip: str = "",
                  now: dt.datetime | None = None) -> tuple[ChangeEvent, list[int]]:
    """Record the change and open its event-driven requests; returns (change, request ids)."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    now = now or utcnow()
    kind = data.get("kind")
    if kind not in CHANGE_KINDS:
        raise ValidationError(f"unknown kind {kind!r}; use one of {', '.join(CHANGE_KINDS)}", field="kind")
    title = clean_text(data, "title", limit=200)
    description = clean_text(data, "description", required=False, limit=10000, multiline=True)
    occurred = parse_time(data, "occurred_at", now=now)
    day = local(occurred, engagement.timezone).date()
    due = end_of_local_day(day + dt.timedelta(days=EVENT_DUE_DAYS), engagement.timezone)
    with transaction():
        change = ChangeEvent.create(engagement=engagement.id, title=title, kind=kind, occurred_at=occurred,
                                    description=description, created_by=user.id, created_at=now)
        wanted = triggered_requirements(engagement, kind)
        if wanted:
            rows = [{"engagement": engagement.id, "control": control, "requirement": requirement, "period_start": day,
                     "period_end": day, "due_at": due, "status": "open", "created_at": now, "updated_at": now}
                    for control, requirement in wanted]
            owners.fill_default_owners(engagement, rows)
            EvidenceRequest.insert_many(rows).on_conflict_ignore().execute()
        ids = [r for (r,) in EvidenceRequest.select(EvidenceRequest.id)
               .where(EvidenceRequest.engagement == engagement.id, EvidenceRequest.period_start == day,
                      EvidenceRequest.requirement.in_([r for _c, r in wanted] or [0]))
               .order_by(EvidenceRequest.id).tuples()]
        if ids:
            ChangeEventRequest.insert_many([{"change": change.id, "request": r} for r in ids]).execute()
        audit_log.record("change.create", actor=user, object_type="change", object_id=change.id,
                         engagement=engagement, ip=ip,
                         details={"title": title, "kind": kind, "occurred_at": occurred.isoformat() + "Z",
                                  "requests": ids})
    return change, ids


def void_change(user: User, change_id: int | str, data: dict, *, ip: str = "",
                now: dt.datetime | None = None) -> tuple[ChangeEvent, list[int]]:
    """Void a change event recorded by mistake (a double submit, the wrong engagement), with a reason: it is
    kept and shown void; the requests it opened that no other live change needs and that hold no evidence are
    retired (``domain.schedule``: open or overdue -> retired). Returns (change, retired request ids)."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    reason = clean_text(data, "reason", limit=2000, multiline=True)
    now = now or utcnow()
    with transaction():
        change = scope.change_for(user, change_id, "record_change")
        if change.voided_at is not None:
            raise Conflict("this change event is already void")
        others = (ChangeEventRequest.select(ChangeEventRequest.request).join(ChangeEvent)
                  .where(ChangeEvent.id != change.id, ChangeEvent.voided_at.is_null()))
        with_evidence = Evidence.select(Evidence.request)
        retire = [r for (r,) in EvidenceRequest.select(EvidenceRequest.id)
                  .join(ChangeEventRequest, on=(ChangeEventRequest.request == EvidenceRequest.id))
                  .where(ChangeEventRequest.change == change.id, EvidenceRequest.status.in_(VOIDABLE),
                         EvidenceRequest.id.not_in(others), EvidenceRequest.id.not_in(with_evidence))
                  .order_by(EvidenceRequest.id).tuples()]
        for request_id, status in (EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.status)
                                   .where(EvidenceRequest.id.in_(retire)).tuples()):
            if not can_move(status, "retired"):
                raise RuntimeError(f"the request state machine no longer retires {status} requests")
            RequestHistory.create(request=request_id, subject="request", from_status=status, to_status="retired",
                                  at=now, actor=user.id, actor_email=user.email,
                                  reason=f"change event #{change.id} voided: {reason}"[:2000])
        if retire:
            (EvidenceRequest.update(status="retired", updated_at=now)
             .where(EvidenceRequest.id.in_(retire), EvidenceRequest.status.in_(VOIDABLE)).execute())
        ChangeEvent.update(voided_at=now, voided_by_email=user.email, void_reason=reason).where(
            ChangeEvent.id == change.id).execute()
        audit_log.record("change.void", actor=user, object_type="change", object_id=change.id,
                         engagement=change.engagement_id, ip=ip,
                         details={"reason": reason, "requests_retired": retire})
    return ChangeEvent.get_by_id(change.id), retire


def changes_of(engagement: Engagement) -> pw.ModelSelect:
    return ChangeEvent.select().where(ChangeEvent.engagement == engagement.id).order_by(ChangeEvent.occurred_at.desc())


def opened_requests(change_ids: list[int], visible: pw.ModelSelect | None = None) -> dict[int, list[EvidenceRequest]]:
    """The requests each change opened; of ``visible`` only (``scope.requests_for``: an auditor's grant)."""
    out: dict[int, list[EvidenceRequest]] = {c: [] for c in change_ids}
    if not change_ids:
        return out
    rows = (EvidenceRequest.select(EvidenceRequest, Control, EvidenceRequirement, ChangeEventRequest.change)
            .join(ChangeEventRequest, on=(ChangeEventRequest.request == EvidenceRequest.id))
            .switch(EvidenceRequest).join(Control)
            .switch(EvidenceRequest).join(EvidenceRequirement)
            .where(ChangeEventRequest.change.in_(change_ids)).order_by(Control.code, EvidenceRequirement.key))
    if visible is not None:
        rows = rows.where(EvidenceRequest.id.in_(visible.select(EvidenceRequest.id)))
    for row in rows:
        out[row.changeeventrequest.change_id].append(row)
    return out
