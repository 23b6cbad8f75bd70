"""Priced change control (the seed's clause 3: scope creep enters through small unpriced requests). Either
side proposes; the provider prices it (one-off and monthly price, FTE, expected KPI impact; exact decimals);
the client approves or rejects it with a reason, once; then it is implemented, and a significant one records a
``significant_change`` change event, which opens the event-driven evidence requests (PCI DSS 11.3.1.3, 11.4.x,
12.5.2, …) in the same transaction."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import peewee as pw

from domain import governance as rules
from domain.errors import Conflict, ValidationError
from domain.timeutil import isoformat_utc
from models import ChangeRequest, Engagement, User, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.incidents import changes as change_events
from services.messages import notifications
from services.text import clean_text

from .inputs import flag, instant_field, json_object, side_of


def change_requests_of(engagement: Engagement, status: str = "") -> pw.ModelSelect:
    query = ChangeRequest.select().where(ChangeRequest.engagement == engagement.id)
    if status in rules.CHANGE_STATES:
        query = query.where(ChangeRequest.status == status)
    return query.order_by(ChangeRequest.proposed_at.desc(), ChangeRequest.id.desc())


def approved_monthly_total(engagement: Engagement) -> Decimal:
    """The monthly price of the approved and implemented change requests: beside the charges in the
    engagement's commercial view."""
    total = Decimal("0.00")
    for (price,) in (ChangeRequest.select(ChangeRequest.monthly_price)
                     .where(ChangeRequest.engagement == engagement.id,
                            ChangeRequest.status.in_(rules.PRICED_STATES)).tuples()):
        total += Decimal(price or 0)
    return total.quantize(rules.CENT)


DECIDERS = {"client": ("client_admin", "risk_reviewer"), "provider": ("provider_admin",)}


def _tell(engagement: Engagement, row: ChangeRequest, side: str, occasion: str, title: str, now: dt.datetime) -> None:
    """The side that acts next is told once (in-app and by e-mail through the outbox), in the same transaction."""
    users = notifications.engagement_users([engagement.id], sides=(side,), roles=DECIDERS[side])[engagement.id]
    notifications.notify(users, "change_request_pending", "change_request", row.id, occasion,
                         title=f"{title}: {row.title} ({engagement.name})", link=f"/change-requests/{row.id}",
                         engagement_id=engagement.id, now=now)


def _write_scope(actor: User, change_request_id: int | str) -> tuple[ChangeRequest, Engagement]:
    row = scope.change_request_for(actor, change_request_id)
    return row, scope.engagement_for(actor, row.engagement_id, "governance")


def propose(actor: User, engagement_id: int | str, data: object, *, ip: str = "",
            now: dt.datetime | None = None) -> ChangeRequest:
    engagement = scope.engagement_for(actor, engagement_id, "governance")
    data = json_object(data)
    title = clean_text(data, "title", limit=200)
    if data.get("kind") not in rules.CHANGE_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(rules.CHANGE_KINDS)}", field="kind")
    description = clean_text(data, "description", required=False, limit=10000, multiline=True)
    now = now or utcnow()
    with transaction():
        if (change_requests_of(engagement)
                .where(pw.fn.LOWER(ChangeRequest.title) == title.lower(),
                       ChangeRequest.status.in_(rules.PENDING_CHANGE_STATES)).exists()):
            raise Conflict(f"a change request {title!r} is already awaiting its price or decision", field="title")
        row = ChangeRequest.create(engagement=engagement.id, title=title, kind=data["kind"],
                                   description=description, proposed_side=side_of(actor), proposed_by=actor.id,
                                   proposed_at=now)
        audit_log.record("change_request.propose", actor=actor, object_type="change_request", object_id=row.id,
                         engagement=engagement, ip=ip, details={"title": title, "kind": row.kind})
        _tell(engagement, row, "provider", "proposed", "Change request to price", now)
    return row


def price(actor: User, change_request_id: int | str, data: object, *, ip: str = "",
          now: dt.datetime | None = None) -> ChangeRequest:
    row, engagement = _write_scope(actor, change_request_id)
    data = json_object(data)
    rules.check_price_side(side_of(actor))
    rules.check_move(rules.CHANGE_TRANSITIONS, "change request", row.status, "priced")
    fields = {"one_off_price": rules.parse_money(data.get("one_off_price"), "one_off_price"),
              "monthly_price": rules.parse_money(data.get("monthly_price"), "monthly_price"),
              "fte_impact": rules.parse_money(data.get("fte_impact") or "0", "fte_impact", signed=True),
              "kpi_impact": clean_text(data, "kpi_impact", required=False, limit=2000, multiline=True)}
    now = now or utcnow()
    with transaction():
        if not (ChangeRequest.update(status="priced", priced_by=actor.id, priced_at=now, **fields)
                .where(ChangeRequest.id == row.id, ChangeRequest.status == "proposed").execute()):
            raise Conflict("this change request was priced meanwhile", field="status")
        audit_log.record("change_request.price", actor=actor, object_type="change_request", object_id=row.id,
                         engagement=engagement, ip=ip,
                         details={k: str(v) for k, v in fields.items()})
        _tell(engagement, row, "client", "priced", "Change request awaiting your decision", now)
    return ChangeRequest.get_by_id(row.id)


def decide(actor: User, change_request_id: int | str, data: object, *, ip: str = "",
           now: dt.datetime | None = None) -> ChangeRequest:
    row, engagement = _write_scope(actor, change_request_id)
    data = json_object(data)
    reason = clean_text(data, "reason", required=False, limit=2000, multiline=True)
    target = rules.check_change_decision(status=row.status, side=side_of(actor), decision=data.get("decision"),
                                         reason=reason)
    now = now or utcnow()
    with transaction():
        if not (ChangeRequest.update(status=target, decided_by=actor.id, decided_at=now, decision_reason=reason)
                .where(ChangeRequest.id == row.id, ChangeRequest.status == "priced").execute()):
            raise Conflict("this change request was decided meanwhile; a decision is final", field="decision")
        audit_log.record("change_request.decision", actor=actor, object_type="change_request", object_id=row.id,
                         engagement=engagement, ip=ip, details={"decision": target, "reason": reason})
    return ChangeRequest.get_by_id(row.id)


def implemented(actor: User, change_request_id: int | str, data: object, *, ip: str = "",
                now: dt.datetime | None = None) -> tuple[ChangeRequest, list[int]]:
    """Record an approved change as implemented; ``significant`` records the change event that opens the
    event-driven requests. Returns the change request and the ids of the requests opened."""
    row, engagement = _write_scope(actor, change_request_id)
    data = json_object(data)
    if row.status in ("proposed", "priced", "rejected"):
        raise Conflict(f"this change request is {row.status}: only an approved one is implemented", field="status")
    rules.check_move(rules.CHANGE_TRANSITIONS, "change request", row.status, "implemented")
    now = now or utcnow()
    at = instant_field(data, "implemented_at", now)
    if at > now:
        raise ValidationError("implemented_at is in the future", field="implemented_at")
    if row.decided_at is not None and at < row.decided_at:
        raise ValidationError("implemented_at is before the change request was approved", field="implemented_at")
    significant = flag(data, "significant")
    opened: list[int] = []
    with transaction():
        event_id = None
        if significant:
            event, opened = change_events.create_change(
                actor, engagement, {"title": f"Change request: {row.title}"[:200], "kind": "significant_change",
                                    "occurred_at": isoformat_utc(at), "description": row.description}, ip=ip, now=now)
            event_id = event.id
        if not (ChangeRequest.update(status="implemented", implemented_at=at, implemented_by=actor.id,
                                     significant=significant, change_event=event_id)
                .where(ChangeRequest.id == row.id, ChangeRequest.status == "approved").execute()):
            raise Conflict("this change request was recorded as implemented meanwhile", field="status")
        audit_log.record("change_request.implemented", actor=actor, object_type="change_request", object_id=row.id,
                         engagement=engagement, ip=ip,
                         details={"significant": significant, "change_event": event_id, "requests": opened})
    return ChangeRequest.get_by_id(row.id), opened
