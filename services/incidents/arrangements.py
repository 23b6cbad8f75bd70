"""The client's own agreement with the provider, entered or materially changed (CPS 230 para 59(a): APRA
told within 20 business days, the ``CPS230-ARRANGEMENT`` clock from the agreement date), and the para 59(b)
offshoring gate: APRA told *before* an offshoring arrangement, so a notice dated after the agreement is
refused with the reason. Sub-contractor arrangements start the same clock from the register."""
from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

from domain.clocks import ClockError, check_offshoring_notice
from domain.errors import NotFound, ValidationError
from domain.timeutil import date_field, local, start_of_local_day
from models import Arrangement, Clock, Engagement, User, transaction, utcnow
from models.incidents import ARRANGEMENT_KINDS
from services import scope
from services.audit import audit_log
from services.text import clean_text

from . import clocks
from .incidents import parse_time

ARRANGEMENT_RULE = "CPS230-ARRANGEMENT"


def parse_arrangement(data: Any, engagement: Engagement, now: dt.datetime) -> dict:
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    kind = data.get("kind")
    if kind not in ARRANGEMENT_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(ARRANGEMENT_KINDS)}", field="kind")
    offshore = data.get("offshore", False)
    if not isinstance(offshore, bool):
        raise ValidationError("offshore must be true or false", field="offshore")
    today = local(now, engagement.timezone).date()
    agreed = date_field(data, "agreement_date", required=True)
    notified = date_field(data, "apra_notified_on", required=False)
    if agreed > today + dt.timedelta(days=366):
        raise ValidationError("agreement_date is more than a year ahead", field="agreement_date")
    if notified is not None and notified > today:
        raise ValidationError("apra_notified_on cannot be in the future", field="apra_notified_on")
    if offshore:
        try:
            check_offshoring_notice(agreed, notified)
        except ClockError as exc:
            raise ValidationError(str(exc), field=exc.field) from None
    return {"kind": kind, "agreement_date": agreed, "offshore": offshore, "apra_notified_on": notified,
            "description": clean_text(data, "description", required=False, limit=5000, multiline=True)}


def record_arrangement(user: User, engagement: Engagement, data: Any, *, ip: str = "",
                       now: dt.datetime | None = None) -> Arrangement:
    """client side: the agreement entered or materially changed starts CPS230-ARRANGEMENT from 00:00 local of
    the agreement date; the same arrangement recorded twice the same day is one."""
    now = now or utcnow()
    fields = parse_arrangement(data, engagement, now)
    with transaction():
        existing = Arrangement.get_or_none(Arrangement.engagement == engagement.id, Arrangement.kind == fields["kind"],
                                           Arrangement.agreement_date == fields["agreement_date"])
        if existing is not None:
            return existing
        row = Arrangement.create(engagement=engagement.id, created_by=user.id, created_at=now, **fields)
        audit_log.record("arrangement.create", actor=user, object_type="arrangement", object_id=row.id,
                         engagement=engagement, ip=ip,
                         details={"kind": row.kind, "agreement_date": row.agreement_date.isoformat(),
                                  "offshore": row.offshore,
                                  "apra_notified_on": row.apra_notified_on.isoformat() if row.apra_notified_on
                                  else None})
        clocks.start_clock(engagement, ARRANGEMENT_RULE, start_of_local_day(row.agreement_date, engagement.timezone),
                           subject=row, how=f"from the agreement {'entered' if row.kind == 'entered' else 'changed'} "
                                           f"on {row.agreement_date.isoformat()}", actor=user, ip=ip)
    return row


def arrangements_of(engagement: Engagement) -> pw.ModelSelect:
    return (Arrangement.select().where(Arrangement.engagement == engagement.id)
            .order_by(Arrangement.agreement_date.desc(), Arrangement.id.desc()))


def clock_for(arrangement: Arrangement) -> Clock | None:
    return Clock.get_or_none(Clock.subject_type == Arrangement._meta.table_name, Clock.subject_id == arrangement.id,
                             Clock.rule_id == ARRANGEMENT_RULE)


def arrangement_for(user: User, arrangement_id: int, action: str = "view") -> Arrangement:
    """An arrangement of an engagement in the caller's scope; another tenant's answers as a missing one."""
    row = Arrangement.get_or_none(Arrangement.id == arrangement_id) if 0 < arrangement_id < 2**63 else None
    if row is None:
        raise NotFound("arrangement not found")
    try:
        scope.engagement_for(user, row.engagement_id, action)
    except NotFound:
        raise NotFound("arrangement not found") from None
    return row


def record_notice(user: User, arrangement: Arrangement, data: Any, *, ip: str = "",
                  now: dt.datetime | None = None) -> Clock:
    """APRA told of the arrangement (para 59(a)): meets its clock, or leaves it breached when late."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    clock = clock_for(arrangement)
    if clock is None:
        raise NotFound("this arrangement has no clock")
    notified = parse_time(data, "notified_at", now=now)
    return clocks.record_notice(clock, notified, actor=user, ip=ip, now=now)
