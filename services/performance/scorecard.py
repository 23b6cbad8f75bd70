"""Read models: the scorecard (KPI × period grid with the months' credits), a KPI with its versions and results,
and ``kpi_misses_since`` for whoever prepares a meeting's agenda. A constant number of queries whatever the
number of periods or engagements."""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from domain import governance as change_rules
from domain import performance as rules
from domain.errors import ValidationError
from models import Engagement, Finding, Kpi, KpiEscalation, KpiResult, KpiVersion, ServiceCredit, User
from services import scope

from . import credits
from .kpis import current_version, in_effect, kpis_of, today_in, versions_by_kpi
from .settings import months_of, priced_changes, settings_of


@dataclass(frozen=True)
class Cell:
    period: str
    value: Decimal
    outcome: str | None
    state: str
    id: int
    month: str = ""


def month_range(engagement: Engagement, args: dict, now: dt.datetime | None = None) -> tuple[str, str]:
    """``from`` / ``to`` (``YYYY-MM``), by default the last 12 months up to the current one."""
    today = today_in(engagement, now)
    to = args.get("to") or f"{today.year:04d}-{today.month:02d}"
    last = _month(to, "to")
    default_from = last.start.replace(year=last.start.year - 1) + dt.timedelta(days=31)
    first = _month(args.get("from") or f"{default_from.year:04d}-{default_from.month:02d}", "from")
    if first.start > last.start:
        raise ValidationError("from is after to", field="from")
    if (last.start.year - first.start.year) * 12 + last.start.month - first.start.month >= 120:
        raise ValidationError("at most 120 months at once", field="from")
    return first.text, last.text


def _month(text: object, name: str) -> rules.Period:
    try:
        return rules.parse_period(text, "monthly")
    except ValidationError as exc:
        raise ValidationError(exc.message, field=name) from None


def results_in(engagement: Engagement, first: str, last: str) -> dict[int, list[Cell]]:
    """kpi id -> the latest submission of each period whose month lies in [first, last], oldest first."""
    out: dict[int, dict[str, Cell]] = defaultdict(dict)
    rows = (KpiResult.select(KpiResult.id, KpiResult.kpi, KpiResult.period, KpiResult.value, KpiResult.outcome,
                             KpiResult.state, KpiResult.n, KpiResult.month)
            .where(KpiResult.engagement == engagement.id, KpiResult.month >= first, KpiResult.month <= last)
            .order_by(KpiResult.period_start, KpiResult.n))
    for result_id, kpi_id, period, value, outcome, state, _n, month in rows.tuples():  # no model per row
        out[kpi_id][period] = Cell(period, value, outcome, state, result_id, month)
    return {k: list(v.values()) for k, v in out.items()}


def scorecard(user: User, engagement_id: int | str, args: dict) -> dict:
    engagement = scope.performance_engagement(user, engagement_id)
    first, last = month_range(engagement, args)
    return scorecard_of(engagement, first, last)


def scorecard_of(engagement: Engagement, first: str, last: str) -> dict:
    """The scorecard of months ``first`` to ``last`` (``YYYY-MM``) of an engagement the caller may see."""
    kpis = list(kpis_of(engagement))
    versions = versions_by_kpi([k.id for k in kpis])
    cells = results_in(engagement, first, last)
    settings = settings_of(engagement)
    stored = credits.credits_of(engagement)
    working = {w.month: w for w in credits.compute(engagement)}
    months = []
    for month in rules.months_between(first, last):
        w = working.get(month)
        rows = stored.get(month, [])
        months.append({"month": month, "charges": _money(w.credits.charges if w and w.credits else None),
                       "at_risk": _money(w.credits.at_risk if w and w.credits else None),
                       "capped": bool(w and w.credits and w.credits.capped),
                       "credits": [{"id": c.id, "kpi": c.kpi.code, "allocation_pct": str(c.allocation_pct),
                                    "multiplier": str(c.multiplier), "accrued": _money(c.accrued),
                                    "amount": _money(c.amount), "state": c.state,
                                    "earn_back_until": c.earn_back_until,
                                    "state_label": rules.credit_state_label(c.state, c.earn_back_until),
                                    "reference": c.reference, "reason": c.reason} for c in rows],
                       "total": _money(sum((c.amount for c in rows), Decimal("0.00")))})
    return {"engagement": engagement.id, "currency": settings.currency, "from": first, "to": last,
            "kpis": [kpi_summary(k, versions[k.id], cells.get(k.id, [])) for k in kpis], "months": months}


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(rules.money(value))


def kpi_summary(kpi: Kpi, versions: list[KpiVersion], cells: list[Cell]) -> dict:
    version = current_version(kpi, versions)
    return {"id": kpi.id, "code": kpi.code, "name": kpi.name, "category": kpi.category, "unit": kpi.unit,
            "direction": kpi.direction, "period": kpi.period, "critical": version.critical,
            "expected": str(version.expected), "minimum": str(version.minimum),
            "allocation_pct": str(version.allocation_pct), "volume_sensitive": kpi.volume_sensitive,
            "results": [{"id": c.id, "period": c.period, "month": c.month, "value": format(c.value, "f"),
                         "outcome": c.outcome, "state": c.state,
                         "levels": _levels_for(kpi, versions, c.period)} for c in cells]}


def _levels_for(kpi: Kpi, versions: list[KpiVersion], period: str) -> dict:
    version = in_effect(versions, rules.parse_period(period, kpi.period))
    return {"expected": str(version.expected), "minimum": str(version.minimum), "version": version.n} \
        if version else {}


def version_json(version: KpiVersion) -> dict:
    return {"n": version.n, "state": version.state, "effective_from": version.effective_from,
            "reason": version.reason, "expected": str(version.expected), "minimum": str(version.minimum),
            "allocation_pct": str(version.allocation_pct), "critical": version.critical,
            "definition": json.loads(version.definition), "proposed_side": version.proposed_side,
            "proposed_by": version.proposed_by.email if version.proposed_by_id else None,
            "decided_by": version.decided_by.email if version.decided_by_id else None,
            "decision_reason": version.decision_reason}


def kpi_misses_since(engagement: Engagement, since: dt.date) -> list[dict]:
    """Accepted results ``missed`` or ``below_expected`` for periods ending on or after ``since`` (the
    engagement's local date), newest first: for a governance meeting's agenda."""
    rows = (KpiResult.select(KpiResult, Kpi).join(Kpi)
            .where(KpiResult.engagement == engagement.id, KpiResult.state == "accepted",
                   KpiResult.outcome.in_(("missed", "below_expected")),
                   KpiResult.period_start >= since - dt.timedelta(days=31))
            .order_by(KpiResult.period_start.desc(), Kpi.code))
    return [{"kpi": r.kpi.code, "kpi_id": r.kpi_id, "name": r.kpi.name, "period": r.period,
             "value": format(r.value, "f"), "outcome": r.outcome, "result_id": r.id}
            for r in rows if rules.parse_period(r.period, r.kpi.period).end >= since]


def misses_across(user: User, limit: int = 200) -> list[dict]:
    """The client's cross-engagement view: accepted misses per engagement, newest first."""
    ids = scope.engagements_for(user).select(Engagement.id)
    rows = (KpiResult.select(KpiResult, Kpi, Engagement).join(Kpi).switch(KpiResult).join(Engagement)
            .where(KpiResult.engagement.in_(ids), KpiResult.state == "accepted", KpiResult.outcome == "missed")
            .order_by(KpiResult.period_start.desc(), Engagement.name, Kpi.code).limit(limit))
    sees: dict[int, bool] = {}  # an auditor's grants are read once per engagement
    out = []
    for r in rows:
        if sees.setdefault(r.engagement_id, scope.sees_performance(user, r.engagement)):
            out.append({"engagement": r.engagement.name, "engagement_id": r.engagement_id, "kpi": r.kpi.code,
                        "kpi_id": r.kpi_id, "period": r.period, "value": format(r.value, "f")})
    return out


def months_json(engagement: Engagement) -> list[dict]:
    """The months with volumes, charges or an agreed change starting, each with the agreed changes' one-off and
    monthly prices beside its charges (``change_one_off``, ``change_monthly``)."""
    months, changes = months_of(engagement), priced_changes(engagement)
    prices = change_rules.change_prices_by_month(changes, sorted(set(months) | {c.month for c in changes}))
    out = []
    for month, (one_off, monthly) in prices.items():
        row = months.get(month)
        charges = None if row is None or row.charges is None else row.charges
        out.append({"month": month, "forecast_volume": row.forecast_volume if row else None,
                    "actual_volume": row.actual_volume if row else None,
                    "charges": None if charges is None else str(charges),
                    "change_one_off": str(one_off), "change_monthly": str(monthly)})
    return out


def changes_json(engagement: Engagement) -> list[dict]:
    """The approved and implemented change requests whose prices the commercial view adds."""
    return [{"id": c.id, "title": c.title, "status": c.status, "from_month": c.month,
             "one_off_price": str(c.one_off.quantize(change_rules.CENT)),
             "monthly_price": str(c.monthly.quantize(change_rules.CENT))} for c in priced_changes(engagement)]


def results_of(kpi: Kpi) -> list[KpiResult]:
    """Every submission of a KPI, by period then version."""
    return list(KpiResult.select().where(KpiResult.kpi == kpi.id).order_by(KpiResult.period_start, KpiResult.n))


def credits_of_kpi(kpi: Kpi) -> list[ServiceCredit]:
    return list(ServiceCredit.select().where(ServiceCredit.kpi == kpi.id).order_by(ServiceCredit.month))


def pending_results(engagement: Engagement) -> list[KpiResult]:
    """Submitted results awaiting the client's review, oldest period first."""
    return list(KpiResult.select(KpiResult, Kpi).join(Kpi)
                .where(KpiResult.engagement == engagement.id, KpiResult.state == "submitted")
                .order_by(KpiResult.period_start, Kpi.code, KpiResult.id))


def escalations_of(engagement: Engagement) -> list:
    """The ladder's findings of this engagement with their tier, newest first."""
    return list(KpiEscalation.select(KpiEscalation, Finding, Kpi).join(Finding).switch(KpiEscalation).join(Kpi)
                .where(KpiEscalation.engagement == engagement.id).order_by(KpiEscalation.id.desc()))
