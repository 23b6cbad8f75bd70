"""Writing the commercial settings (currency, at-risk %, pool %, repeat multiplier, earn-back months, surge
tolerance, volume bands) and a month's volumes and charges; each write judges the affected results again
(volume relief) and recomputes the credits in the same transaction."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pycountry

from domain import performance as rules
from domain.errors import ValidationError
from models import CommercialSettings, Engagement, MonthVolume, User, serialise_writers, transaction, utcnow
from services import scope
from services.audit import audit_log

from . import credits, results
from .kpis import allocations, today_in
from .settings import settings_of

_PERCENTS = {"at_risk_pct": (Decimal(0), Decimal(100)), "pool_pct": (Decimal(0), Decimal(1000)),
             "surge_tolerance_pct": (Decimal(0), Decimal(1000)), "repeat_multiplier": (Decimal(1), Decimal(10))}


def settings_json(settings: CommercialSettings) -> dict:
    return {"currency": settings.currency, "at_risk_pct": str(settings.at_risk_pct),
            "pool_pct": str(settings.pool_pct), "repeat_multiplier": str(settings.repeat_multiplier),
            "earn_back_months": settings.earn_back_months, "surge_tolerance_pct": str(settings.surge_tolerance_pct),
            "bands": json.loads(settings.bands or "[]")}


def _bands_json(bands: list[rules.Band]) -> str:
    return json.dumps([{"from": b.start, "to": b.end, "unit_rate": str(b.unit_rate)} for b in bands])


def parse_settings(data: dict, current: CommercialSettings) -> dict:
    """The fields given (PATCH), validated; the rest keep their value."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    fields: dict = {}
    if "currency" in data:
        code = data["currency"].strip().upper() if isinstance(data["currency"], str) else ""
        if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
            raise ValidationError("currency must be an ISO 4217 code such as AUD", field="currency")
        fields["currency"] = code
    for name, (low, high) in _PERCENTS.items():
        if name in data:
            fields[name] = rules.parse_decimal(data[name], name, minimum=low, maximum=high)
    if "earn_back_months" in data:
        months = rules.parse_count(data["earn_back_months"], "earn_back_months")
        if months > 24:
            raise ValidationError("earn_back_months must be at most 24", field="earn_back_months")
        fields["earn_back_months"] = months
    if "bands" in data:
        fields["bands"] = _bands_json(rules.check_bands(data["bands"]))
    unknown = sorted(set(data) - set(settings_json(current)))
    if unknown:
        raise ValidationError(f"unknown setting {unknown[0]!r}", field=str(unknown[0]))
    return fields


def update_settings(actor: User, engagement_id: int | str, data: dict, *, ip: str = "",
                    now: dt.datetime | None = None) -> CommercialSettings:
    engagement = scope.performance_engagement(actor, engagement_id, "commercial")
    current = settings_of(engagement)
    fields = parse_settings(data, current)
    if "pool_pct" in fields:
        rules.check_pool(allocations(engagement), fields["pool_pct"])
    now = now or utcnow()
    with transaction():
        serialise_writers(f"commercial:{engagement.id}")
        current = settings_of(engagement)
        if current.id is None:
            current = CommercialSettings.create(engagement=engagement.id, updated_at=now, **fields)
        else:
            CommercialSettings.update(updated_at=now, **fields).where(CommercialSettings.id == current.id).execute()
        audit_log.record("commercial.update", actor=actor, object_type="engagement", object_id=engagement.id,
                         engagement=engagement, ip=ip, details={k: str(v) for k, v in fields.items()})
        _judge_all(engagement, now)
    return settings_of(engagement)


def _judge_all(engagement: Engagement, now: dt.datetime) -> None:
    for month in {m for (m,) in MonthVolume.select(MonthVolume.month)
                  .where(MonthVolume.engagement == engagement.id).tuples()}:
        results.rejudge_month(engagement, month, now)
    credits.recompute(engagement, now)


def put_month(actor: User, engagement_id: int | str, month: str, data: dict, *, ip: str = "",
              now: dt.datetime | None = None) -> MonthVolume:
    """A month's ``forecast_volume``, ``actual_volume`` and ``charges`` (absent: from the bands), replaced whole."""
    engagement = scope.performance_engagement(actor, engagement_id, "commercial")
    period = rules.parse_period(month, "monthly")
    if period.end < engagement.start_date:
        raise ValidationError("this month is before the engagement started", field="month")
    data = data if isinstance(data, dict) else {}
    fields = {name: None if data.get(name) in (None, "") else rules.parse_count(data[name], name)
              for name in ("forecast_volume", "actual_volume")}
    if fields["actual_volume"] is not None and period.start > today_in(engagement, now):
        raise ValidationError("a month that has not begun has no actual volume yet", field="actual_volume")
    fields["charges"] = (None if data.get("charges") in (None, "")
                         else rules.parse_decimal(data["charges"], "charges", minimum=Decimal(0)))
    now = now or utcnow()
    with transaction():
        serialise_writers(f"commercial:{engagement.id}")
        row = MonthVolume.get_or_none(MonthVolume.engagement == engagement.id, MonthVolume.month == period.text)
        if row is None:
            row = MonthVolume.create(engagement=engagement.id, month=period.text, updated_at=now, **fields)
        else:
            MonthVolume.update(updated_at=now, **fields).where(MonthVolume.id == row.id).execute()
        audit_log.record("commercial.month", actor=actor, object_type="engagement", object_id=engagement.id,
                         engagement=engagement, ip=ip,
                         details={"month": period.text,
                                  **{k: None if v is None else str(v) for k, v in fields.items()}})
        results.rejudge_month(engagement, period.text, now)
    return MonthVolume.get_by_id(row.id)
