"""Re-planning an engagement's evidence requests after an edit (engagement settings or its Statement of
Applicability), without losing history.

Past and current requests, and every request with evidence, are history and stay as they are. Future
requests (``upcoming``) that the new schedule no longer has are **retired**, not deleted; those whose
period a new end date cut short are reshaped; the scheduler's planning (``services.alerts.scheduler``) then adds
what the new schedule lacks, reviving a retired request when its period is needed again.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from domain.recurrence import parse_frequency
from domain.schedule import PlannedRequest, plan, replan
from domain.timeutil import local
from models import Applicability, Control, Engagement, EvidenceRequest, utcnow
from services.alerts import scheduler

from . import planning

RESHAPED = ("upcoming", "open")  # the states re-planning may touch (domain.schedule.replan says how)


@dataclass
class ReplanResult:
    retired: int = 0
    reshaped: int = 0
    created: int = 0  # planned anew, or revived
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"retired": self.retired, "reshaped": self.reshaped, "created": self.created}


def _schedules(engagement: Engagement, today: dt.date, result: ReplanResult) -> dict[int, list[PlannedRequest]]:
    """control id -> its periods as now planned (applicable controls only), first due date applied."""
    rows = (Applicability.select(Applicability.control, Applicability.frequency_override,
                                 Applicability.first_due_date, Control.frequency, Control.code)
            .join(Control)
            .where(Applicability.engagement == engagement.id, Applicability.applicable == True,  # noqa: E712
                   Control.retired_in.is_null()).tuples())
    out = {}
    for control_id, override, first_due, frequency, code in rows:
        text = (override or "").strip() or frequency
        try:
            planned = plan(parse_frequency(text), engagement.start_date, today, engagement.timezone,
                           engagement.end_date)
        except ValueError as exc:
            result.problems.append(f"control {code}: {exc}")
            continue
        out[control_id] = [p for p in planned if first_due is None or p.period_end >= first_due]
    return out


def replan_engagement(engagement: Engagement, *, now: dt.datetime | None = None,
                      previous_end: dt.date | None = None) -> ReplanResult:
    """Bring the engagement's future requests in line with its settings and SoA (call inside the edit's
    transaction; ``previous_end``: the end date before this edit, when it changed)."""
    now = now or utcnow()
    result = ReplanResult()
    planning.invalidate(engagement.id)  # the next tick plans it again, whatever this edit changed
    schedules = _schedules(engagement, local(now, engagement.timezone).date(), result)
    current: dict[tuple[int, int], list[tuple[int, str, dt.date, dt.date]]] = defaultdict(list)
    for request_id, control_id, requirement_id, status, start, end in (
            EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.control, EvidenceRequest.requirement,
                                   EvidenceRequest.status, EvidenceRequest.period_start, EvidenceRequest.period_end)
            .where(EvidenceRequest.engagement == engagement.id, EvidenceRequest.status.in_(RESHAPED)).tuples()):
        current[(control_id, requirement_id)].append((request_id, status, start, end))
    for (control_id, _requirement), rows in current.items():
        decision = replan(rows, schedules.get(control_id, []), engagement.end_date, previous_end)
        if decision.retire:
            result.retired += (EvidenceRequest.update(status="retired", updated_at=now)
                               .where(EvidenceRequest.id.in_(decision.retire), EvidenceRequest.status == "upcoming")
                               .execute())
        for request_id, wanted in decision.reshape:
            result.reshaped += (EvidenceRequest.update(period_end=wanted.period_end, due_at=wanted.due_at,
                                                       updated_at=now)
                                .where(EvidenceRequest.id == request_id, EvidenceRequest.status.in_(RESHAPED))
                                .execute())
    tick = scheduler.TickResult()
    result.created = scheduler.plan_engagement(engagement, scheduler.requirements_by_control(), now, tick)
    result.problems.extend(tick.problems)
    return result
