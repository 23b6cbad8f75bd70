"""Evidence request occurrences: periods, due instants and the request state machine."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .recurrence import Frequency
from .timeutil import end_of_local_day

# Allowed moves of an evidence request; anything else is refused.
TRANSITIONS: dict[str, set[str]] = {
    "upcoming": {"open", "overdue"},
    "open": {"submitted", "overdue"},
    "overdue": {"submitted"},
    "submitted": {"accepted", "rejected", "open", "overdue"},  # open/overdue: evidence withdrawn
    "rejected": {"submitted", "overdue"},
    "accepted": {"open"},  # evidence expired before the period's end
}


@dataclass(frozen=True)
class PlannedRequest:
    period_start: dt.date
    period_end: dt.date
    due_at: dt.datetime  # naive UTC: end of the period's last local day


def plan(frequency: Frequency, anchor: dt.date, until: dt.date, tz: str) -> list[PlannedRequest]:
    """Every occurrence whose period starts on or before ``until``, plus the next one, so the
    provider always sees what is coming (a future anchor gives just the first period)."""
    if frequency.is_event:
        return []
    periods = frequency.periods(anchor, frequency.next_after(until, anchor))
    return [PlannedRequest(start, end, end_of_local_day(end, tz)) for start, end in periods]


def initial_status(period_start: dt.date, due_at: dt.datetime, now: dt.datetime, today: dt.date,
                   grace: dt.timedelta) -> str:
    """State of a request that has no evidence yet."""
    if now > due_at + grace:
        return "overdue"
    return "open" if period_start <= today else "upcoming"


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, set())
