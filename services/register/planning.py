"""The planning watermark: which engagements a scheduler pass has to plan.

Planning an engagement (``services.alerts.scheduler.plan_engagement`` and its APP 8 recipient series) depends on
its local date and on stored inputs only, so once planned for a local date it has nothing more to add that
day unless an input changes. ``engagement.planned_through`` holds that date; NULL means "plan at the next
tick". The tick plans the engagements whose watermark is NULL or earlier than their local today (one
indexed query per distinct local date, not one per engagement) and moves their watermark to today.

**What invalidates planning** (every writer of these calls ``invalidate`` inside its own transaction):

- the Statement of Applicability: applicable, frequency override, first due date (``services.register.applicability``
  and re-scoping, through ``services.register.replan.replan_engagement``; the offshore controls re-decided from the
  service provider register, ``services.register.subcontractors.sync_offshore``, through it too);
- the engagement's settings (start and end dates, timezone, grace days, frameworks, card payments, offshore),
  all edited through ``replan_engagement``, which also retires requests (a retired period may be needed
  again) — it is the one path that retires them;
- the service provider register's decisions (the cross-border recipients whose request series the tick
  extends, ``services.register.subcontractors.decide_on``);
- the control library (controls' frequencies, controls retired, evidence requirements added, changed or
  retired: ``services.register.library_sync.load_library``), for every engagement.

A new engagement starts with NULL, so its first tick plans it. Nothing else writes the column except
``mark_planned`` (but ``Engagement.save()`` writes every column back as loaded: call ``invalidate`` after
it, as ``replan_engagement`` does after ``update_engagement`` saves). Adding an input to planning means
adding its writers to the list above.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from models import Engagement, is_postgres

BATCH = 500


def invalidate(engagement_id: int | None = None) -> int:
    """Make the next tick plan this engagement (``None``: every engagement, e.g. after a library load).
    Call inside the writer's transaction, after its change."""
    query = Engagement.update(planned_through=None)
    if engagement_id is not None:
        query = query.where(Engagement.id == engagement_id)
    else:
        query = query.where(Engagement.planned_through.is_null(False))
    return query.execute()


def engagements_to_plan(zones_on: dict[dt.date, list[str]]) -> list[Engagement]:
    """Engagements never planned, invalidated, or last planned before their local today; ``zones_on``: each
    local date -> the timezones where it is today. Call inside the tick's transaction: on PostgreSQL the rows
    are locked until it commits, so a writer's ``invalidate`` committed meanwhile is not overwritten by
    ``mark_planned`` (it waits, then clears the watermark again); SQLite's BEGIN IMMEDIATE already excludes
    writers."""
    out: list[Engagement] = []
    for today, zones in sorted(zones_on.items()):
        query = (Engagement.select()
                 .where(Engagement.timezone.in_(sorted(zones)),
                        Engagement.planned_through.is_null() | (Engagement.planned_through < today))
                 .order_by(Engagement.id))
        out.extend(query.for_update() if is_postgres() else query)
    return sorted(out, key=lambda e: e.id)


def mark_planned(planned: Iterable[tuple[int, dt.date]]) -> None:
    """Record that each (engagement id, local date) pair has been fully planned: one UPDATE per date."""
    by_date: dict[dt.date, list[int]] = {}
    for engagement_id, today in planned:
        by_date.setdefault(today, []).append(engagement_id)
    for today, ids in sorted(by_date.items()):
        for i in range(0, len(ids), BATCH):
            Engagement.update(planned_through=today).where(Engagement.id.in_(ids[i:i + BATCH])).execute()
