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
from models import (
    CommercialSettings,
    Engagement,
    Kpi,
    KpiResult,
    KpiVersion,
    MonthVolume,
    ServiceCredit,
    User,
    serialise_writers,
    transaction,
    utcnow,
)
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


@dataclass
class Inputs:
    """What an engagement's credits are computed from (loaded for one engagement, or for many at once)."""
    settings: CommercialSettings
    kpis: list[Kpi]  # its monthly KPIs (the pass over every engagement reads rows with only id and code)
    versions: dict[int, list[KpiVersion]]  # (the pass: rows with what in_effect and the allocation need)
    outcomes: dict[tuple[int, str], str]  # (kpi id, month) -> outcome of the accepted result
    charges: dict[str, Decimal | None]  # month -> charges


def outcomes_by_month(engagement: Engagement, kpi_ids: list[int]) -> dict[tuple[int, str], str]:
    """(kpi id, month) -> outcome of the accepted result of each monthly KPI."""
    rows = (KpiResult.select(KpiResult.kpi, KpiResult.month, KpiResult.outcome)
            .where(KpiResult.engagement == engagement.id, KpiResult.state == "accepted",
                   KpiResult.kpi.in_(kpi_ids)).tuples()) if kpi_ids else []
    return {(kpi_id, month): outcome for kpi_id, month, outcome in rows}


def _charges(settings: CommercialSettings, row: MonthVolume) -> Decimal | None:
    """A month's charges: as entered, else its actual volume × the unit rate of its band."""
    if row.charges is not None:
        return row.charges
    if row.actual_volume is not None:
        return rules.band_charges(row.actual_volume, bands_of(settings))
    return None


def month_charges(engagement: Engagement) -> dict[str, Decimal | None]:
    """Each month's charges: as entered, else its actual volume × the unit rate of its band."""
    settings = settings_of(engagement)
    return {month: _charges(settings, row) for month, row in months_of(engagement).items()}


def inputs_of(engagement: Engagement) -> Inputs:
    kpis = [k for k in kpis_of(engagement) if k.period == "monthly"]
    return Inputs(settings_of(engagement), kpis, versions_by_kpi([k.id for k in kpis]),
                  outcomes_by_month(engagement, [k.id for k in kpis]), month_charges(engagement))


def compute(engagement: Engagement) -> list[MonthWorking]:
    """Every month with charges or an accepted monthly result, computed (nothing is written)."""
    inputs = inputs_of(engagement)
    months = sorted(set(inputs.charges) | {m for (_k, m) in inputs.outcomes})
    return [month_working(inputs, month) for month in months]


def month_working(inputs: Inputs, month: str) -> MonthWorking:
    """One month's credits: each monthly KPI missed, its allocation in the version in effect, the repeat
    multiplier, the cap, and each item's earn-back state."""
    settings, outcomes = inputs.settings, inputs.outcomes
    period = rules.parse_period(month, "monthly")
    previous, following = period.previous(), _following(period, settings.earn_back_months)
    misses, states = [], {}
    for kpi in inputs.kpis:
        if outcomes.get((kpi.id, month)) != "missed":
            continue
        version = in_effect(inputs.versions.get(kpi.id, []), period)
        if version is None or version.allocation_pct == 0:
            continue
        misses.append(rules.Miss(kpi.code, version.allocation_pct, outcomes.get((kpi.id, previous.text)) == "missed"))
        states[kpi.code] = rules.earn_back_state(settings.earn_back_months,
                                                 [outcomes.get((kpi.id, m)) for m in following])
    amount = inputs.charges.get(month)
    result = (rules.compute_credits(amount, settings.at_risk_pct, settings.repeat_multiplier, misses)
              if amount is not None else None)
    return MonthWorking(month, amount, result, states, following[-1] if following else None)


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
        wanted.update(_wanted(working, codes))
    return _apply(engagement.id, existing, wanted, now)


def _wanted(working: MonthWorking, codes: dict[str, int]) -> dict[tuple[int, str], dict]:
    """(kpi id, month) -> the stored fields of each credit of the month."""
    if working.credits is None:
        return {}
    return {(codes[line.kpi], working.month): {
        "allocation_pct": line.allocation_pct, "multiplier": line.multiplier, "accrued": line.accrued,
        "amount": line.amount, "capped": working.credits.capped, "state": working.states[line.kpi],
        "earn_back_until": working.earn_back_until if working.states[line.kpi] is None else None}
        for line in working.credits.lines}


def _apply(engagement_id: int, existing: dict[tuple[int, str], ServiceCredit], wanted: dict[tuple[int, str], dict],
           now: dt.datetime) -> int:
    """Write the difference between the stored credits and the wanted ones; settled items never change."""
    changed = 0
    with transaction():
        for key, row in existing.items():
            if row.state not in SETTLED and key not in wanted:
                changed += ServiceCredit.delete().where(ServiceCredit.id == row.id, _unsettled()).execute()
        for (kpi_id, month), fields in wanted.items():
            row = existing.get((kpi_id, month))
            if row is None:
                ServiceCredit.create(engagement=engagement_id, kpi=kpi_id, month=month, updated_at=now, **fields)
                changed += 1
            elif row.state not in SETTLED and any(getattr(row, k) != v for k, v in fields.items()):
                changed += (ServiceCredit.update(updated_at=now, **fields)  # a settlement meanwhile stays
                            .where(ServiceCredit.id == row.id, _unsettled()).execute())
    return changed


def recompute_month_everywhere(month: str, now: dt.datetime | None = None) -> int:
    """The scheduler's pass over a month: that month's credits of every engagement checked against the
    computation, reading everything in a fixed number of statements whatever the number of engagements (per
    engagement, ``recompute`` costs a dozen). An engagement whose stored credits differ is recomputed whole under
    its writers' lock, as a review would, so a pass racing a review never writes a stale computation. Returns
    how many rows changed."""
    period = rules.parse_period(month, "monthly")
    now = now or utcnow()
    inputs = _inputs_everywhere(period)
    existing: dict[int, dict[tuple[int, str], ServiceCredit]] = defaultdict(dict)
    for credit in ServiceCredit.select().where(ServiceCredit.month == month):
        existing[credit.engagement_id][(credit.kpi_id, month)] = credit
    stale = []
    for engagement_id in sorted(set(inputs) | set(existing)):
        wanted = {}
        if engagement_id in inputs:
            codes = {k.code: k.id for k in inputs[engagement_id].kpis}
            wanted = _wanted(month_working(inputs[engagement_id], month), codes)
        if _differs(existing[engagement_id], wanted):
            stale.append(engagement_id)
    if not stale:
        return 0
    return sum(recompute(engagement, now) for engagement in Engagement.select().where(Engagement.id.in_(stale)))


def _differs(existing: dict[tuple[int, str], ServiceCredit], wanted: dict[tuple[int, str], dict]) -> bool:
    """Whether writing ``wanted`` would change an unsettled stored credit."""
    if any(row.state not in SETTLED and key not in wanted for key, row in existing.items()):
        return True
    return any(key not in existing or (existing[key].state not in SETTLED
                                       and any(getattr(existing[key], k) != v for k, v in fields.items()))
               for key, fields in wanted.items())


def _inputs_everywhere(period: rules.Period) -> dict[int, Inputs]:
    """Every engagement's inputs for ``period``'s credits: its settings and charges, its monthly KPIs with their
    versions, and their outcomes from the month before to the end of the longest earn-back window."""
    settings = {s.engagement_id: s for s in CommercialSettings.select()}
    kpis: dict[int, list] = defaultdict(list)  # light rows (id, engagement, code): thousands at scale
    for kpi in (Kpi.select(Kpi.id, Kpi.engagement, Kpi.code).where(Kpi.period == "monthly")
                .order_by(Kpi.engagement, Kpi.code).namedtuples()):
        kpis[kpi.engagement].append(kpi)
    if not kpis:
        return {}
    versions: dict[int, list] = defaultdict(list)  # what in_effect reads, as light rows, oldest first
    for version in (KpiVersion.select(KpiVersion.kpi, KpiVersion.n, KpiVersion.state, KpiVersion.effective_start,
                                      KpiVersion.allocation_pct).join(Kpi).where(Kpi.period == "monthly")
                    .order_by(KpiVersion.n).namedtuples()):
        versions[version.kpi].append(version)
    longest = max((s.earn_back_months for s in settings.values()), default=0)
    window = [period.previous().text, period.text, *_following(period, longest)]
    outcomes: dict[int, dict[tuple[int, str], str]] = defaultdict(dict)
    for engagement_id, kpi_id, month, outcome in (
            KpiResult.select(KpiResult.engagement, KpiResult.kpi, KpiResult.month, KpiResult.outcome)
            .join(Kpi).where(KpiResult.state == "accepted", KpiResult.month.in_(window), Kpi.period == "monthly")
            .tuples()):
        outcomes[engagement_id][(kpi_id, month)] = outcome
    volumes = {v.engagement_id: v for v in MonthVolume.select().where(MonthVolume.month == period.text)}
    out = {}
    for engagement_id, rows in kpis.items():
        own = settings.get(engagement_id) or CommercialSettings(engagement=engagement_id)
        volume = volumes.get(engagement_id)
        charges = {period.text: _charges(own, volume)} if volume is not None else {}
        out[engagement_id] = Inputs(own, rows, versions, outcomes[engagement_id], charges)
    return out


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
