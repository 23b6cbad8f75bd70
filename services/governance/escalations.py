"""A KPI finding on the escalation ladder (``services.performance.ladder``) is the business of the forum of its
tier (SPEC §8: "notifying that tier's forum"): performance marks each tier it reaches (``forum_notified_at``
cleared) and this scheduler step tells that forum's members and chair, once per tier, in bounded batches each
its own transaction. The ladder's last tier, ``dispute``, has no forum of its own: the executive forum hears
of it. An engagement without a forum of that tier falls back on both organisations' admins."""
from __future__ import annotations

import datetime as dt

from domain import governance as rules
from domain.findings import FINAL_STATES
from models import Engagement, Finding, Forum, Kpi, KpiEscalation, transaction
from services.messages import notifications

from .meetings import FALLBACK_ROLES, ScheduleResult, _forum_people

BATCH = 100
FORUM_OF_TIER = rules.FORUM_OF_LADDER_TIER  # the ladder's tier -> the forum that deals with it


def tier_people(engagement_id: int, tier: str) -> set[int]:
    """Members and chairs of the engagement's forums of the tier that deals with ``tier`` (their admins when it
    has none)."""
    people: set[int] = set()
    for forum in Forum.select().where(Forum.engagement == engagement_id, Forum.tier == FORUM_OF_TIER[tier]):
        people.update(_forum_people(forum))
    if not people:
        people.update(notifications.engagement_users([engagement_id], roles=FALLBACK_ROLES)[engagement_id])
    return people


def notify_kpi_escalations(now: dt.datetime, result: ScheduleResult | None = None) -> ScheduleResult:
    """The scheduler's step: every KPI escalation whose tier's forum was not told yet (an indexed read when
    none); a closed finding is marked without a notice."""
    result = result or ScheduleResult()
    while rows := list(KpiEscalation.select(KpiEscalation, Finding, Kpi, Engagement)
                       .join(Finding).switch(KpiEscalation).join(Kpi).switch(KpiEscalation).join(Engagement)
                       .where(KpiEscalation.forum_notified_at.is_null())
                       .order_by(KpiEscalation.id).limit(BATCH)):
        with transaction():
            for escalation in rows:
                _tell(escalation, now, result)
    return result


def _tell(escalation: KpiEscalation, now: dt.datetime, result: ScheduleResult) -> None:
    if not KpiEscalation.update(forum_notified_at=now).where(KpiEscalation.id == escalation.id,
                                                             KpiEscalation.forum_notified_at.is_null()).execute():
        return
    finding, kpi, engagement, tier = escalation.finding, escalation.kpi, escalation.engagement, escalation.tier
    if finding.status in FINAL_STATES:
        return
    result.notified += notifications.notify(
        tier_people(engagement.id, tier), "kpi_escalated_forum", "finding", finding.id, tier,
        title=f"KPI {kpi.code} finding at the {tier} tier ({engagement.name})",
        body=(f"{finding.title}. A corrective action plan is due by {escalation.plan_due.isoformat()}; it is for "
              f"the {FORUM_OF_TIER[tier]} forum."),
        link=f"/findings/{finding.id}", engagement_id=engagement.id, now=now)
