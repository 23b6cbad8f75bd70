"""The escalation ladder (SPEC §8): a critical KPI missed in two consecutive periods raises a finding (source
``kpi``, high) whose corrective action plan is due in 5 business days of the engagement's calendar; a finding with
no plan by then moves up a tier (operational → performance → executive → dispute) at the scheduler's pass; once
closed, the KPI's next accepted result must not be missed, or the finding reopens one tier up. Each step is an
audit event and a notification of the KPI's owners (of both sides' admins and risk team when it has none; created
once per tier); each tier clears
``forum_notified_at`` so that governance, which sits above, tells that tier's forum at the scheduler's pass.
A miss is also the ``kpi.missed`` webhook, queued in the review's transaction."""
from __future__ import annotations

import datetime as dt

from domain import performance as rules
from domain.business_days import BusinessCalendar
from domain.findings import FINAL_STATES
from models import Engagement, Finding, HolidayOverride, Kpi, KpiEscalation, KpiResult, transaction, utcnow
from services.audit import audit_log
from services.incidents.findings import raise_finding
from services.integrations import webhooks
from services.messages import notifications

from .kpis import today_in

BATCH = 200


def calendar_of(engagement: Engagement) -> BusinessCalendar:
    """The engagement's business days: its place's holidays plus the manual overrides."""
    overrides = {d: h for d, h in HolidayOverride.select(HolidayOverride.date, HolidayOverride.is_holiday)
                 .where(HolidayOverride.place == engagement.place).tuples()}
    return BusinessCalendar(engagement.place, overrides)


def plan_due(engagement: Engagement, now: dt.datetime) -> dt.date:
    return calendar_of(engagement).add_business_days(today_in(engagement, now), rules.PLAN_DUE_BUSINESS_DAYS)


def _previous_outcome(result: KpiResult) -> str | None:
    previous = rules.parse_period(result.period, result.kpi.period).previous()
    row = (KpiResult.select(KpiResult.outcome)
           .where(KpiResult.kpi == result.kpi_id, KpiResult.period == previous.text, KpiResult.state == "accepted")
           .first())
    return row.outcome if row else None


def owners(kpi: Kpi) -> set[int]:
    """The KPI's owners on both sides."""
    return {i for i in (kpi.client_owner_id, kpi.provider_owner_id) if i}


def _audience(engagement: Engagement, kpi: Kpi) -> set[int]:
    """The KPI's owners on both sides and the admins and risk team of both organisations."""
    users = notifications.engagement_users([engagement.id], ("client", "provider"),
                                           ("client_admin", "risk_reviewer", "provider_admin"))[engagement.id]
    return set(users) | owners(kpi)


def _open_finding(kpi: Kpi) -> Finding | None:
    return (Finding.select().join(KpiEscalation)
            .where(KpiEscalation.kpi == kpi.id, Finding.status.not_in(FINAL_STATES)).first())


def after_acceptance(result: KpiResult, critical: bool, now: dt.datetime) -> Finding | None:
    """Inside the review's transaction: the follow-up of closed findings of this KPI, then the two-miss rule."""
    kpi, engagement = result.kpi, result.engagement
    _follow_up(result, now)
    if result.outcome != "missed":
        return None
    notifications.notify(_audience(engagement, kpi), "kpi_missed", "kpi", kpi.id, result.period,
                         title=f"KPI {kpi.code} missed in {result.period}", link=f"/kpis/{kpi.id}",
                         engagement_id=engagement.id, now=now)
    announce_miss(result, kpi, engagement, critical, now)
    if not critical or _previous_outcome(result) != "missed" or _open_finding(kpi) is not None:
        return None  # one finding at a time per KPI: an open one is already on the ladder
    due = plan_due(engagement, now)
    finding = raise_finding(engagement, source="kpi", severity="high", key=f"kpi:{kpi.id}:{result.period}",
                            title=f"Critical KPI {kpi.code} missed twice in a row ({result.period})",
                            description=(f"{kpi.name} was missed in two consecutive periods. A corrective action "
                                         f"plan is due by {due.isoformat()} (5 business days, {engagement.place})."),
                            due_date=due, owner=kpi.provider_owner, now=now)
    if KpiEscalation.get_or_none(KpiEscalation.finding == finding.id) is None:
        KpiEscalation.create(finding=finding, kpi=kpi, engagement=engagement.id, period=result.period,
                             plan_due=due, created_at=now)
        audit_log.record("kpi.escalate", actor_email="system", object_type="finding", object_id=finding.id,
                         engagement=engagement, details={"kpi": kpi.code, "tier": "operational",
                                                         "plan_due": due.isoformat(), "period": result.period})
    return finding


def announce_miss(result: KpiResult, kpi: Kpi, engagement: Engagement, critical: bool, now: dt.datetime) -> None:
    """The ``kpi.missed`` webhook of an accepted result judged missed, inside the caller's transaction; once per
    result whatever judges it again (its period is the occasion)."""
    webhooks.emit("kpi.missed", engagement, object_type="kpi_result", object_id=result.id,
                  title=f"KPI {kpi.code} missed in {result.period}", path=f"/kpis/{kpi.id}", occasion=result.period,
                  extra={"kpi": {"id": kpi.id, "code": kpi.code, "name": kpi.name}, "period": result.period,
                         "critical": critical},
                  now=now)


def _follow_up(result: KpiResult, now: dt.datetime) -> None:
    """The first accepted result after a KPI finding closed: missed reopens the finding one tier up."""
    pending = (KpiEscalation.select(KpiEscalation, Finding).join(Finding)
               .where(KpiEscalation.kpi == result.kpi_id, KpiEscalation.followed_up_in.is_null(),
                      Finding.status == "closed"))
    for escalation in pending:
        KpiEscalation.update(followed_up_in=result.period).where(KpiEscalation.id == escalation.id).execute()
        if result.outcome == "missed":
            _move_up(escalation, now, reason=f"the follow-up result for {result.period} was missed", reopen=True)


def _move_up(escalation: KpiEscalation, now: dt.datetime, *, reason: str, reopen: bool = False) -> None:
    engagement, kpi, finding = escalation.engagement, escalation.kpi, escalation.finding
    tier = rules.tier_above(escalation.tier)
    due = plan_due(engagement, now)
    rearm = {"followed_up_in": None} if reopen else {}  # a reopened finding is followed up again when it closes
    KpiEscalation.update(tier=tier, plan_due=due, forum_notified_at=None, **rearm).where(
        KpiEscalation.id == escalation.id).execute()
    changes = {"due_date": due}
    if reopen:
        changes.update(status="open", closed_at=None)
    Finding.update(**changes).where(Finding.id == finding.id).execute()
    event = audit_log.record("finding.reopen" if reopen else "kpi.escalate", actor_email="system",
                             object_type="finding", object_id=finding.id, engagement=engagement,
                             details={"kpi": kpi.code, "tier": tier, "from_tier": escalation.tier, "reason": reason,
                                      "plan_due": due.isoformat()})
    status = changes.get("status", finding.status)
    webhooks.emit("finding.changed", engagement, object_type="finding", object_id=finding.id,
                  title=f"Finding escalated to the {tier} tier: {finding.title}", path=f"/findings/{finding.id}",
                  occasion=f"audit:{event.id}", now=now,
                  extra={"status": status, "changed": sorted(changes), "tier": tier, "due_date": due.isoformat()})
    notifications.notify(owners(kpi) or _audience(engagement, kpi), "kpi_escalated", "finding", finding.id, tier,
                         title=f"KPI {kpi.code} finding escalated to the {tier} tier",
                         body=f"{reason}. A corrective action plan is due by {due.isoformat()}.",
                         link=f"/findings/{finding.id}", engagement_id=engagement.id, now=now)


def escalate_overdue_plans(now: dt.datetime | None = None) -> int:
    """The scheduler's step: KPI findings still without a plan past their due date move up one tier (a bounded
    batch, oldest first; each move re-dates the plan, so a pass never moves one twice)."""
    now = now or utcnow()
    moved = 0
    candidates = (KpiEscalation.select(KpiEscalation, Finding, Engagement).join(Finding)
                  .switch(KpiEscalation).join(Engagement)
                  .where(Finding.status == "open", KpiEscalation.tier != rules.TIERS[-1],
                         KpiEscalation.plan_due < now.date() + dt.timedelta(days=1))
                  .order_by(KpiEscalation.plan_due, KpiEscalation.id).limit(BATCH))
    for escalation in candidates:
        if escalation.plan_due >= today_in(escalation.engagement, now):
            continue  # not yet past the due date in the engagement's own timezone
        with transaction():
            _move_up(escalation, now, reason=f"no corrective action plan by {escalation.plan_due.isoformat()}")
        moved += 1
    return moved
