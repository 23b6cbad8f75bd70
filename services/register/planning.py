"""Planning: which evidence requests each engagement's schedules need, and the watermark that says when to look.

One module for both paths that plan: the scheduler's pass (``plan_due``: the engagements whose watermark is
behind their local today, each in its own transaction) and the edits that change what planning reads
(``replan_engagement``: engagement settings, the Statement of Applicability, the service provider register's
offshore decisions).

**Planning.** ``plan_engagement`` inserts the periods every applicable control's schedule has started by
today (the engagement's local date) plus the next one, never one starting after the engagement's end date;
``plan_recipient_series`` does the same for each APP 8 cross-border recipient's yearly reasonable-steps
series. Inserts ignore rows that exist, so planning twice changes nothing.

**Re-planning after an edit**, without losing history. Past and current requests, and every request with
evidence, are history and stay as they are. Future requests (``upcoming``) that the new schedule no longer
has are **retired**, not deleted; those whose period a new end date cut short are reshaped; planning then
adds what the new schedule lacks, reviving a retired request when its period is needed again.

**The watermark.** Planning an engagement depends on its local date and on stored inputs only, so once
planned for a local date it has nothing more to add that day unless an input changes.
``engagement.planned_through`` holds that date; NULL means "plan at the next pass". The pass plans the
engagements whose watermark is NULL or earlier than their local today (one indexed query per distinct local
date, not one per engagement) and moves their watermark to today.

**What invalidates planning** (every writer of these calls ``invalidate`` inside its own transaction):

- the Statement of Applicability: applicable, frequency override, first due date
  (``services.register.applicability`` and re-scoping, through ``replan_engagement``; the offshore controls
  re-decided from the service provider register, ``services.register.subcontractors.sync_offshore``, through
  it too);
- the engagement's settings (start and end dates, timezone, grace days, frameworks, card payments, offshore),
  all edited through ``replan_engagement``, which also retires requests (a retired period may be needed
  again) — it is the one path that retires them;
- the service provider register's decisions (the cross-border recipients whose request series the pass
  extends, ``services.register.subcontractors.decide_on``);
- the control library (controls' frequencies, controls retired, evidence requirements added, changed or
  retired: ``services.register.library_sync.load_library``), for every engagement.

A new engagement starts with NULL, so its first pass plans it. Nothing else writes the column except
``mark_planned`` (but ``Engagement.save()`` writes every column back as loaded: call ``invalidate`` after
it, as ``replan_engagement`` does after ``update_engagement`` saves). Adding an input to planning means
adding its writers to the list above.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import peewee as pw

from domain.recurrence import parse_frequency
from domain.schedule import PlannedRequest, initial_status, periods_to_add, plan, replan
from domain.timeutil import local
from models import (
    Applicability,
    Control,
    Engagement,
    EvidenceRequest,
    EvidenceRequirement,
    Subcontractor,
    is_postgres,
    transaction,
    utcnow,
)
from services.people import owners

from . import queries

BATCH = 500
RECIPIENT_CONTROL = "PR-06"  # reasonable-steps evidence, one series per cross-border recipient
RECIPIENT_FREQUENCY = "P1Y"


# ------------------------------------------------------------------------------------------ the pass

@dataclass
class Planned:
    """What one planning pass did: requests created (or revived), and schedules it could not plan."""
    created: int = 0
    problems: list[str] = field(default_factory=list)


def plan_due(now: dt.datetime, zones_on: dict[dt.date, list[str]]) -> Iterator[Planned]:
    """The scheduler pass's planning: the engagements whose planning watermark is behind their local today
    (none at a pass on a day already planned, unless an edit or a library load invalidated some), their
    controls' schedules and APP 8 recipient series; then their watermark moves to today. ``zones_on``: each
    local date -> the timezones where it is today.

    Each engagement is planned in its own short transaction (its requests, its recipient series and its
    watermark commit together), yielded once committed: a backlog never holds writers off for longer than
    one engagement takes, and a pass killed between two resumes with those still behind."""
    for engagement_id in stale_engagement_ids(zones_on):
        result = Planned()
        with transaction():
            engagement = _still_stale(engagement_id, now)
            if engagement is None:  # planned meanwhile (another pass) or gone
                continue
            result.created += plan_engagement(engagement, requirements_by_control(), now, result.problems)
            result.created += plan_all_recipient_series(now, [engagement.id])
            mark_planned([(engagement.id, local(now, engagement.timezone).date())])
        yield result


def requirements_by_control() -> dict[int, list[int]]:
    """Live evidence requirements of every control: control id -> requirement ids."""
    out: dict[int, list[int]] = defaultdict(list)
    for req_id, control_id in (EvidenceRequirement.select(EvidenceRequirement.id, EvidenceRequirement.control)
                               .where(EvidenceRequirement.retired_in.is_null()).tuples()):
        out[control_id].append(req_id)
    return out


def plan_engagement(engagement: Engagement, requirements: dict[int, list[int]], now: dt.datetime,
                    problems: list[str]) -> int:
    """Insert the requests the engagement's schedules need by ``now``: three queries and bulk inserts."""
    today = local(now, engagement.timezone).date()
    grace = dt.timedelta(days=engagement.grace_days)
    rows = (Applicability.select(Applicability.control, Applicability.frequency_override,
                                 Applicability.first_due_date, Control.frequency, Control.code)
            .join(Control)
            .where(Applicability.engagement == engagement.id, Applicability.applicable == True,  # noqa: E712
                   Control.retired_in.is_null())
            .tuples())
    covered = dict(EvidenceRequest.select(EvidenceRequest.requirement, pw.fn.MAX(EvidenceRequest.period_end))
                   .where(EvidenceRequest.engagement == engagement.id, EvidenceRequest.status != "retired")
                   .group_by(EvidenceRequest.requirement).tuples())
    plans: dict[str, list[PlannedRequest]] = {}  # controls share frequencies: plan each one once
    new: list[dict] = []
    for control_id, override, first_due, frequency, code in rows:
        text = (override or "").strip() or frequency
        if text not in plans:
            try:
                plans[text] = plan(parse_frequency(text), engagement.start_date, today, engagement.timezone,
                                  engagement.end_date)
            except ValueError as exc:
                plans[text] = []
                problems.append(f"engagement {engagement.id} control {code}: {exc}")
        for requirement_id in requirements.get(control_id, ()):
            wanted = periods_to_add(plans[text], covered_until=_as_date(covered.get(requirement_id)), today=today,
                                    first_due=first_due)
            for p in wanted:
                new.append({"engagement": engagement.id, "control": control_id, "requirement": requirement_id,
                            "period_start": p.period_start, "period_end": p.period_end, "due_at": p.due_at,
                            "status": initial_status(p.period_start, p.due_at, now, today, grace),
                            "created_at": now, "updated_at": now})
    created = _revive_retired(engagement, new)
    owners.fill_default_owners(engagement, new)
    for i in range(0, len(new), BATCH):
        created += (EvidenceRequest.insert_many(new[i:i + BATCH]).on_conflict_ignore()
                    .as_rowcount().execute())
    return created


def _revive_retired(engagement: Engagement, new: list[dict]) -> int:
    """A period the schedule needs again whose request was retired (an edit took it away, another brought
    it back) gets that request back instead of a second one; removes those periods from ``new``."""
    if not new:
        return 0
    retired = {(r, start): i for i, r, start in EvidenceRequest.select(
        EvidenceRequest.id, EvidenceRequest.requirement, EvidenceRequest.period_start)
        .where(EvidenceRequest.engagement == engagement.id, EvidenceRequest.status == "retired").tuples()}
    if not retired:
        return 0
    revived, keep = 0, []
    for row in new:
        request_id = retired.get((row["requirement"], row["period_start"]))
        if request_id is None:
            keep.append(row)
            continue
        revived += (EvidenceRequest.update(status=row["status"], period_end=row["period_end"], due_at=row["due_at"],
                                           updated_at=row["updated_at"])
                    .where(EvidenceRequest.id == request_id, EvidenceRequest.status == "retired").execute())
    new[:] = keep
    return revived


def _as_date(value) -> dt.date | None:
    """MAX() over a date column comes back as text from SQLite."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# ------------------------------------------------------------------------------------------ APP 8 recipient series

def _recipient_requirements() -> list[EvidenceRequirement]:
    return list(EvidenceRequirement.select().join(Control)
                .where(Control.code == RECIPIENT_CONTROL, Control.retired_in.is_null(),
                       EvidenceRequirement.retired_in.is_null()))


def plan_recipient_series(engagement: Engagement, now: dt.datetime | None = None) -> int:
    """Request each cross-border recipient's reasonable-steps evidence yearly from its approval, like a
    control's schedule (idempotent: existing periods are kept). Returns the number of requests created."""
    now = now or utcnow()
    requirements = [r for r in _recipient_requirements() if Applicability.select().where(
        Applicability.engagement == engagement.id, Applicability.control == r.control_id,
        Applicability.applicable == True).exists()]  # noqa: E712
    recipients = queries.cross_border_recipients(engagement) if requirements else []
    if not recipients:
        return 0
    tz = engagement.timezone
    today = local(now, tz).date()
    grace = dt.timedelta(days=engagement.grace_days)
    rows = []
    for sub in recipients:
        anchor = local(sub.decided_at, tz).date()
        for p in plan(parse_frequency(RECIPIENT_FREQUENCY), anchor, today, tz, engagement.end_date):
            for requirement in requirements:
                rows.append({"engagement": engagement.id, "control": requirement.control_id,
                             "requirement": requirement.id, "lane": sub.id, "period_start": p.period_start,
                             "period_end": p.period_end, "due_at": p.due_at,
                             "status": initial_status(p.period_start, p.due_at, now, today, grace),
                             "created_at": now, "updated_at": now})
    owners.fill_default_owners(engagement, rows)
    with transaction():
        return EvidenceRequest.insert_many(rows).on_conflict_ignore().as_rowcount().execute()


def plan_all_recipient_series(now: dt.datetime | None = None, engagement_ids: list[int] | None = None) -> int:
    """The scheduler's pass: extend every recipient's series (engagements with an offshore register only;
    of ``engagement_ids`` only, when given: those the pass plans)."""
    if engagement_ids is not None and not engagement_ids:
        return 0
    query = Subcontractor.select(Subcontractor.engagement).where(
        Subcontractor.status == "approved", Subcontractor.personal_information == True)  # noqa: E712
    if engagement_ids is not None:
        query = query.where(Subcontractor.engagement.in_(engagement_ids))
    ids = {e for (e,) in query.tuples()}
    return sum(plan_recipient_series(e, now) for e in Engagement.select().where(Engagement.id.in_(list(ids))))


# ------------------------------------------------------------------------------------------ re-planning after an edit

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
    invalidate(engagement.id)  # the next tick plans it again, whatever this edit changed
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
    result.created = plan_engagement(engagement, requirements_by_control(), now, result.problems)
    return result


# ------------------------------------------------------------------------------------------ the watermark

def invalidate(engagement_id: int | None = None) -> int:
    """Make the next tick plan this engagement (``None``: every engagement, e.g. after a library load).
    Call inside the writer's transaction, after its change."""
    query = Engagement.update(planned_through=None)
    if engagement_id is not None:
        query = query.where(Engagement.id == engagement_id)
    else:
        query = query.where(Engagement.planned_through.is_null(False))
    return query.execute()


def stale_engagement_ids(zones_on: dict[dt.date, list[str]]) -> list[int]:
    """Engagements never planned, invalidated, or last planned before their local today; ``zones_on``: each
    local date -> the timezones where it is today. One indexed query per distinct local date."""
    out: list[int] = []
    for today, zones in sorted(zones_on.items()):
        out.extend(e for (e,) in Engagement.select(Engagement.id)
                   .where(Engagement.timezone.in_(sorted(zones)),
                          Engagement.planned_through.is_null() | (Engagement.planned_through < today)).tuples())
    return sorted(out)


def _still_stale(engagement_id: int, now: dt.datetime) -> Engagement | None:
    """The engagement if it still needs planning at ``now``; call inside the transaction that plans it. On
    PostgreSQL its row stays locked until that commits, so a writer's ``invalidate`` committed meanwhile is
    not overwritten by ``mark_planned`` (it waits, then clears the watermark again); SQLite's BEGIN
    IMMEDIATE already excludes writers."""
    query = Engagement.select().where(Engagement.id == engagement_id)
    engagement = (query.for_update() if is_postgres() else query).first()
    if engagement is None:
        return None
    planned = engagement.planned_through
    return engagement if planned is None or planned < local(now, engagement.timezone).date() else None


def mark_planned(planned: Iterable[tuple[int, dt.date]]) -> None:
    """Record that each (engagement id, local date) pair has been fully planned: one UPDATE per date."""
    by_date: dict[dt.date, list[int]] = {}
    for engagement_id, today in planned:
        by_date.setdefault(today, []).append(engagement_id)
    for today, ids in sorted(by_date.items()):
        for i in range(0, len(ids), BATCH):
            Engagement.update(planned_through=today).where(Engagement.id.in_(ids[i:i + BATCH])).execute()
