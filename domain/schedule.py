"""Evidence request occurrences: periods, due instants and the request state machine."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .recurrence import Frequency
from .timeutil import end_of_local_day

# Allowed moves of an evidence request; anything else is refused.
TRANSITIONS: dict[str, set[str]] = {
    "upcoming": {"open", "overdue", "submitted"},  # submitted: evidence may arrive before the period starts
    "open": {"submitted", "overdue"},
    "overdue": {"submitted"},
    # upcoming/open/overdue: the only pending item was withdrawn; accepted: a newer version was rejected or
    # withdrawn while an earlier accepted one still stands
    "submitted": {"accepted", "rejected", "upcoming", "open", "overdue"},
    "rejected": {"submitted", "overdue"},
    "accepted": {"open", "submitted"},  # open: evidence expired before the period's end; submitted: a new version
}


@dataclass(frozen=True)
class PlannedRequest:
    period_start: dt.date
    period_end: dt.date
    due_at: dt.datetime  # naive UTC: end of the period's last local day


def plan(frequency: Frequency, anchor: dt.date, until: dt.date, tz: str,
         end: dt.date | None = None) -> list[PlannedRequest]:
    """Every occurrence whose period starts on or before ``until``, plus the next one, so the
    provider always sees what is coming (a future anchor gives just the first period).

    With an ``end`` (the engagement's end date) nothing starts after it and the last period is
    cut short there, so no evidence falls due after the contract has ended.
    """
    if frequency.is_event:
        return []
    periods = frequency.periods(anchor, frequency.next_after(until, anchor))
    if end is not None:
        periods = [(start, min(finish, end)) for start, finish in periods if start <= end]
    return [PlannedRequest(start, finish, end_of_local_day(finish, tz)) for start, finish in periods]


def initial_status(period_start: dt.date, due_at: dt.datetime, now: dt.datetime, today: dt.date,
                   grace: dt.timedelta) -> str:
    """State of a request that has no evidence yet: where time has already moved a new one."""
    return next_status("upcoming", period_start, due_at, now, today, grace) or "upcoming"


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, set())


# Time-driven moves (SPEC §2). Only requests without a pending decision move with the clock:
# ``submitted`` waits for review, ``accepted`` is done, ``overdue`` stays until evidence arrives.
BECOME_OVERDUE = ("upcoming", "open", "rejected")
BECOME_OPEN = ("upcoming",)


def next_status(current: str, period_start: dt.date, due_at: dt.datetime, now: dt.datetime, today: dt.date,
                grace: dt.timedelta) -> str | None:
    """The state the clock moves a request to at ``now`` (naive UTC; ``today`` is the engagement's local
    date), or None when it stays. Past due plus grace wins over a period start."""
    if current in BECOME_OVERDUE and now > due_at + grace:
        target = "overdue"
    elif current in BECOME_OPEN and period_start <= today:
        target = "open"
    else:
        return None
    return target if can_move(current, target) else None


def periods_to_add(planned: list[PlannedRequest], *, covered_until: dt.date | None, today: dt.date,
                   first_due: dt.date | None = None) -> list[PlannedRequest]:
    """Which of a requirement's planned periods (see ``plan``) the scheduler still has to request.

    - ``covered_until`` (the last ``period_end`` already requested): only periods starting after it, so a
      schedule that changed frequency neither overlaps what was asked nor back-fills the past;
    - nothing requested yet (a control made applicable, or a requirement added, after the register was
      generated): from the current period on, never a backlog of overdue requests for time when nothing
      was asked, and nothing due before ``first_due`` (the Statement of Applicability's first due date).
    """
    out = []
    for p in planned:
        if covered_until is not None:
            if p.period_start <= covered_until:
                continue
        elif p.period_end < today or (first_due is not None and p.period_end < first_due):
            continue
        out.append(p)
    return out
