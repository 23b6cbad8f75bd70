"""The demo engagement's contract performance: 12 KPIs from the catalogue, the commercial settings with volume
bands, every complete month since the engagement started with its volumes (one surge month) and results (the
provider submits each month with its extract's SHA-256, the risk team accepts), a rebased KPI, a critical KPI
missed twice (its finding escalated once) and service credits in every state. Built through the services, so
every step is in the audit trail; running it again changes nothing."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from decimal import Decimal

from domain import performance as rules
from domain.performance_library import template as find_template
from models import (
    CommercialSettings,
    Engagement,
    Finding,
    Kpi,
    KpiResult,
    KpiVersion,
    MonthVolume,
    ServiceCredit,
    User,
    utcnow,
)
from services.performance import commercial, credits, kpis, ladder, rebasing, results

TEMPLATES = ("SL-80-20", "ASA", "ABANDON", "FCR", "QA-SCORE", "COMPLAINT-REWORK", "CONTAINMENT", "ESCALATION",
             "ADHERENCE", "FORECAST-ACC", "CSAT", "PCI-CALL")
BANDS = [{"from": 0, "to": 40000, "unit_rate": "4.10"}, {"from": 40000, "to": None, "unit_rate": "3.85"}]
FORECAST = 36000
SURGE_ACTUAL = 42000  # above 36,000 × 1.10
# (KPI, month index) -> "missed" | "below": the story the demo tells (index 0 is the first complete month)
STORY = {("QA-SCORE", 0): "missed", ("QA-SCORE", 1): "below", ("ABANDON", 2): "missed", ("ABANDON", 3): "missed",
         ("CSAT", 5): "missed", ("CSAT", 6): "below", ("FCR", 5): "rebased"}
SURGE_INDEX = 4
LAST_MISSED = "COMPLAINT-REWORK"  # missed in the last month: its credit is still inside the earn-back window


def complete_months(engagement: Engagement, today: dt.date) -> list[rules.Period]:
    """Every month from the engagement's first to the one before today's."""
    current = rules.period_containing(engagement.start_date, "monthly")
    this_month = rules.period_containing(today, "monthly")
    out = []
    while current.start < this_month.start:
        out.append(current)
        current = current.next()
    return out


def _value(kpi: Kpi, version, story: str | None, rng: random.Random) -> Decimal:
    """A value met, below expected, or missed, for the version in effect."""
    expected, minimum = version.expected, version.minimum
    sign = 1 if kpi.direction == "higher" else -1
    gap = abs(expected - minimum) or Decimal(1)
    if story == "missed":
        value = minimum - sign * gap * Decimal("0.6")
    elif story in ("below", "rebased"):
        value = (expected + minimum) / 2
    else:
        value = expected + sign * gap * Decimal(rng.randint(0, 8)) / 10
    if kpi.unit == "percent":
        value = min(Decimal(100), max(Decimal(0), value))
    return value.quantize(Decimal("0.1"))


def create_performance(engagement: Engagement, users: dict[str, User], now: dt.datetime | None = None) -> int:
    """The demo's performance data (skipped when the engagement has KPIs); returns the number of results."""
    if kpis.kpis_of(engagement).exists():
        return 0
    now = now or utcnow()
    admin, provider_admin = users["client_admin"], users["provider_admin"]
    contributor, risk = users["provider_contributor"], users["risk_reviewer"]
    for code in TEMPLATES:
        kpis.create_kpi(admin, engagement.id, {"template": code, "client_owner": risk.email,
                                               "provider_owner": provider_admin.email}, now=now)
    commercial.update_settings(admin, engagement.id, {"bands": BANDS, "repeat_multiplier": "1.5",
                                                      "earn_back_months": 2}, now=now)
    months = complete_months(engagement, kpis.today_in(engagement, now))
    if len(months) < 7:
        return 0
    fcr = Kpi.get(Kpi.engagement == engagement.id, Kpi.code == "FCR")
    version = rebasing.propose_version(provider_admin, fcr.id, {
        "minimum": "65", "effective_from": months[5].text,
        "reason": "The new CRM matches repeat contacts across channels, which moves the baseline down"}, now=now)
    rebasing.decide_version(admin, fcr.id, version.n, {"decision": "approve", "reason": "Agreed at the monthly "
                                                       "performance review"}, now=now)
    rng = random.Random(engagement.id)
    count = 0
    for index, month in enumerate(months):
        volume = SURGE_ACTUAL if index == SURGE_INDEX else FORECAST + rng.randint(-1500, 1500)
        commercial.put_month(admin, engagement.id, month.text, {"forecast_volume": FORECAST,
                                                               "actual_volume": volume}, now=now)
        count += _month_results(engagement, month, index, len(months), contributor, risk, rng, now)
    _settle(engagement, risk, months, now)
    ladder.escalate_overdue_plans(now + dt.timedelta(days=10))  # nobody planned: the finding moved up once
    return count


def _month_results(engagement: Engagement, month: rules.Period, index: int, total: int, contributor: User,
                   risk: User, rng: random.Random, now: dt.datetime) -> int:
    kpi_rows = list(kpis.kpis_of(engagement))
    versions = kpis.versions_by_kpi([k.id for k in kpi_rows])
    rows = []
    for kpi in kpi_rows:
        for period in _periods(kpi, month, engagement.start_date):
            story = STORY.get((kpi.code, index))
            if kpi.code == LAST_MISSED and index == total - 1:
                story = "missed"
            if kpi.code == "SL-80-20" and index == SURGE_INDEX:
                story = "missed"  # the surge: excused by volume relief
            version = kpis.in_effect(versions[kpi.id], period)
            rows.append(results.Row(len(rows) + 1, kpi.code, period.text, _value(kpi, version, story, rng),
                                    FORECAST // 4 if kpi.period == "weekly" else None))
    extract = "\n".join(f"{r.kpi},{r.period},{r.value}" for r in rows).encode()
    stored = results.submit(contributor, engagement.id, rows, extract_sha256=hashlib.sha256(extract).hexdigest(),
                            now=now)
    for result in stored:
        results.review(risk, result.id, {"decision": "accept"}, now=now)
    return len(stored)


def _volume(surge: bool, rng: random.Random) -> int:
    return SURGE_ACTUAL if surge else FORECAST + rng.randint(-1500, 1500)


def _periods(kpi: Kpi, month: rules.Period, start: dt.date) -> list[rules.Period]:
    if kpi.period == "monthly":
        return [month]
    weeks, week = [], rules.period_containing(month.start, "weekly")
    while week.start <= month.end:
        if week.month == month.text and week.end >= start:
            weeks.append(week)
        week = week.next()
    return weeks


def _settle(engagement: Engagement, risk: User, months: list[rules.Period], now: dt.datetime) -> None:
    """The first month's payable credit was credited on an invoice; the CSAT one waived."""
    payable = {(c.kpi.code, c.month): c for c in ServiceCredit.select().where(
        ServiceCredit.engagement == engagement.id, ServiceCredit.state == "payable")}
    first = payable.get(("QA-SCORE", months[0].text))
    if first is not None:
        credits.settle(risk, first.id, {"state": "credited", "reference": f"CN-{months[1].text}-001"}, now=now)
    csat = payable.get(("CSAT", months[5].text))
    if csat is not None:
        credits.settle(risk, csat.id, {"state": "waived", "reason": "Survey platform outage skewed the sample"},
                       now=now)


def summary(engagement: Engagement) -> str:
    states = sorted({rules.credit_state_label(c.state, None) for c in ServiceCredit.select(ServiceCredit.state)
                     .where(ServiceCredit.engagement == engagement.id)})
    findings = Finding.select().where(Finding.engagement == engagement.id, Finding.source == "kpi").count()
    return (f"Contract performance: {kpis.kpis_of(engagement).count()} KPIs with monthly and weekly results, "
            f"credits {', '.join(states) or 'none'}, {findings} KPI finding(s).")


# --------------------------------------------------------------------------- scale (benchmarks)

def scale_performance(engagement: Engagement, contributor: User, risk: User, now: dt.datetime,
                      rng: random.Random) -> int:
    """The demo's density for a scale engagement, written in bulk: the 12 KPIs, the bands, every complete month's
    volumes (about one surge month a year) and accepted results judged by the same rules, then the credits."""
    today = kpis.today_in(engagement, now)
    months = complete_months(engagement, today)
    kpi_rows = []
    for code in TEMPLATES:
        template = find_template(code)
        kpi = Kpi.create(engagement=engagement.id, code=code, name=template.name, category=template.category,
                         unit=template.unit, direction=template.direction, period=template.period,
                         volume_sensitive=template.volume_sensitive, template=code, created_at=now)
        period = rules.period_containing(engagement.start_date, kpi.period)
        KpiVersion.create(kpi=kpi, n=1, state="approved", expected=template.expected, minimum=template.minimum,
                          allocation_pct=template.allocation_pct, critical=template.critical,
                          definition=json.dumps(template.definition, sort_keys=True), effective_from=period.text,
                          effective_start=period.start, reason="agreed when the KPI was added",
                          proposed_at=now, decided_at=now)
        kpi_rows.append((kpi, template))
    CommercialSettings.create(engagement=engagement.id, bands=json.dumps(BANDS), repeat_multiplier=Decimal("1.5"),
                              earn_back_months=2, updated_at=now)
    surges = {m.text for m in months if rng.random() < 1 / 12}
    MonthVolume.insert_many([{"engagement": engagement.id, "month": m.text, "forecast_volume": FORECAST,
                              "actual_volume": _volume(m.text in surges, rng),
                              "updated_at": now} for m in months]).execute()
    rows = []
    for kpi, template in kpi_rows:
        levels = rules.Levels(kpi.direction, template.expected, template.minimum)
        version = KpiVersion.get(KpiVersion.kpi == kpi.id)
        for month in months:
            for period in _periods(kpi, month, engagement.start_date):
                story = "missed" if rng.random() < 0.06 else "below" if rng.random() < 0.08 else None
                value = _value(kpi, version, story, rng)
                judged = rules.judge(value, levels)
                excused = judged == "missed" and kpi.volume_sensitive and period.month in surges
                rows.append({"engagement": engagement.id, "kpi": kpi.id, "period": period.text,
                             "period_start": period.start, "month": period.month, "n": 1, "value": value,
                             "evidence_sha256": hashlib.sha256(f"{kpi.code}{period.text}".encode()).hexdigest(),
                             "state": "accepted", "version": 1, "judged": judged,
                             "outcome": "excused" if excused else judged,
                             "excuse_reason": rules.RELIEF_REASON if excused else "", "submitted_by": contributor.id,
                             "submitted_at": now, "reviewed_by": risk.id, "reviewed_at": now})
    for i in range(0, len(rows), 500):
        KpiResult.insert_many(rows[i:i + 500]).execute()
    credits.recompute(engagement, now)
    return len(rows)
