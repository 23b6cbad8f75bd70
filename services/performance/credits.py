"""Service credits (SPEC §8), recomputed from the accepted results, the month's charges and the commercial
settings whenever one of them changes; the client settles a payable item once (credited or waived)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import peewee as pw

from domain import performance as rules
from domain.errors import Conflict, ValidationError
from models import Engagement, Kpi, KpiResult, ServiceCredit, User, serialise_writers, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.text import clean_text

from .kpis import in_effect, kpis_of, versions_by_kpi
from .settings import bands_of, months_of, settings_of

SETTLED = ("credited", "waived")


@dataclass
class MonthWorking:
    """A month's computation, as the credits page shows it."""
    month: str
    charges: Decimal | None
    credits: rules.MonthCredits | None
    states: dict[str, str | None]  # KPI code -> its credit's state (None: earn-back window open)
    earn_back_until: str | None = None  # the last month of the window of an item without a state


def outcomes_by_month(engagement: Engagement, kpi_ids: list[int]) -> dict[tuple[int, str], str]:
    """(kpi id, month) -> outcome of the accepted result of each monthly KPI."""
    rows = (KpiResult.select(KpiResult.kpi, KpiResult.month, KpiResult.outcome)
            .where(KpiResult.engagement == engagement.id, KpiResult.state == "accepted",
                   KpiResult.kpi.in_(kpi_ids)).tuples()) if kpi_ids else []
    return {(kpi_id, month): outcome for kpi_id, month, outcome in rows}


def month_charges(engagement: Engagement) -> dict[str, Decimal | None]:
    """Each month's charges: as entered, else its actual volume × the unit rate of its band."""
    bands = bands_of(settings_of(engagement))
    out: dict[str, Decimal | None] = {}
    for month, row in months_of(engagement).items():
        if row.charges is not None:
            out[month] = row.charges
        elif row.actual_volume is not None:
            out[month] = rules.band_charges(row.actual_volume, bands)
        else:
            out[month] = None
    return out


def compute(engagement: Engagement) -> list[MonthWorking]:
    """Every month with charges or an accepted monthly result, computed (nothing is written)."""
    settings = settings_of(engagement)
    kpis = [k for k in kpis_of(engagement) if k.period == "monthly"]
    versions = versions_by_kpi([k.id for k in kpis])
    outcomes = outcomes_by_month(engagement, [k.id for k in kpis])
    charges = month_charges(engagement)
    months = sorted(set(charges) | {m for (_k, m) in outcomes})
    workings = []
    for month in months:
        period = rules.parse_period(month, "monthly")
        previous, following = period.previous(), _following(period, settings.earn_back_months)
        misses, states = [], {}
        for kpi in kpis:
            if outcomes.get((kpi.id, month)) != "missed":
                continue
            version = in_effect(versions[kpi.id], period)
            if version is None or version.allocation_pct == 0:
                continue
            misses.append(rules.Miss(kpi.code, version.allocation_pct,
                                     outcomes.get((kpi.id, previous.text)) == "missed"))
            states[kpi.code] = rules.earn_back_state(settings.earn_back_months,
                                                     [outcomes.get((kpi.id, m)) for m in following])
        amount = charges.get(month)
        result = (rules.compute_credits(amount, settings.at_risk_pct, settings.repeat_multiplier, misses)
                  if amount is not None else None)
        workings.append(MonthWorking(month, amount, result, states, following[-1] if following else None))
    return workings


def _following(period: rules.Period, count: int) -> list[str]:
    out, current = [], period
    for _ in range(count):
        current = current.next()
        out.append(current.text)
    return out


def recompute(engagement: Engagement, now: dt.datetime | None = None) -> int:
    """Bring the stored credits in line with the computation (inside the caller's transaction); settled items
    never change. Returns how many rows changed."""
    now = now or utcnow()
    with transaction():
        serialise_writers(f"credits:{engagement.id}")  # two reviews at once compute and write in turn
        return _recompute(engagement, now)


def _unsettled() -> pw.Expression:
    """Not credited or waived (SQL's ``NOT IN`` alone would skip the NULL state of an open earn-back window)."""
    return ServiceCredit.state.is_null() | ServiceCredit.state.not_in(SETTLED)


def _recompute(engagement: Engagement, now: dt.datetime) -> int:
    codes = {k.code: k.id for k in kpis_of(engagement)}
    existing = {(c.kpi_id, c.month): c for c in ServiceCredit.select().where(ServiceCredit.engagement == engagement.id)}
    wanted: dict[tuple[int, str], dict] = {}
    for working in compute(engagement):
        if working.credits is None:
            continue
        for line in working.credits.lines:
            wanted[(codes[line.kpi], working.month)] = {
                "allocation_pct": line.allocation_pct, "multiplier": line.multiplier, "accrued": line.accrued,
                "amount": line.amount, "capped": working.credits.capped, "state": working.states[line.kpi],
                "earn_back_until": working.earn_back_until if working.states[line.kpi] is None else None}
    changed = 0
    with transaction():
        for key, row in existing.items():
            if row.state not in SETTLED and key not in wanted:
                changed += ServiceCredit.delete().where(ServiceCredit.id == row.id,
                                                        _unsettled()).execute()
        for (kpi_id, month), fields in wanted.items():
            row = existing.get((kpi_id, month))
            if row is None:
                ServiceCredit.create(engagement=engagement.id, kpi=kpi_id, month=month, updated_at=now, **fields)
                changed += 1
            elif row.state not in SETTLED and any(getattr(row, k) != v for k, v in fields.items()):
                changed += (ServiceCredit.update(updated_at=now, **fields)  # a settlement meanwhile stays
                            .where(ServiceCredit.id == row.id, _unsettled()).execute())
    return changed


def credits_of(engagement: Engagement) -> dict[str, list[ServiceCredit]]:
    """month -> its credits (with their KPI), in KPI code order."""
    out: dict[str, list[ServiceCredit]] = defaultdict(list)
    for credit in (ServiceCredit.select(ServiceCredit, Kpi).join(Kpi)
                   .where(ServiceCredit.engagement == engagement.id).order_by(ServiceCredit.month, Kpi.code)):
        out[credit.month].append(credit)
    return out


def settle(actor: User, credit_id: int | str, data: dict, *, ip: str = "",
           now: dt.datetime | None = None) -> ServiceCredit:
    """The client marks a payable credit ``credited`` (invoice ``reference``) or ``waived`` (``reason``), once."""
    credit = scope.service_credit_for(actor, credit_id, "review_kpi_results")
    data = data if isinstance(data, dict) else {}
    target = data.get("state")
    if target not in rules.SETTLEMENTS:
        raise ValidationError("state must be credited or waived", field="state")
    field = "reference" if target == "credited" else "reason"
    text = clean_text(data, field, limit=100 if field == "reference" else 2000, multiline=field == "reason")
    if credit.state is None:
        raise Conflict(f"this service credit's earn-back window is open until {credit.earn_back_until}; it is "
                       "settled once it becomes payable", field="state")
    rules.check_move(rules.CREDIT_TRANSITIONS, credit.state, target, "service credit")
    now = now or utcnow()
    with transaction():
        if not (ServiceCredit.update(state=target, settled_by=actor, settled_at=now, **{field: text})
                .where(ServiceCredit.id == credit.id, ServiceCredit.state == "payable").execute()):
            raise Conflict("this service credit was settled meanwhile", field="state")
        audit_log.record("service_credit.settle", actor=actor, object_type="service_credit", object_id=credit.id,
                         engagement=credit.engagement_id, ip=ip,
                         details={"state": target, field: text, "amount": str(credit.amount), "month": credit.month,
                                  "kpi": credit.kpi.code})
    return ServiceCredit.get_by_id(credit.id)
