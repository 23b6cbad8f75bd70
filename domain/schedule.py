"""Evidence request occurrences: periods, due instants and the request state machine."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .recurrence import Frequency
from .timeutil import end_of_local_day

# Allowed moves of an evidence request; anything else is refused.
TRANSITIONS: dict[str, set[str]] = {
    # submitted: evidence may arrive before the period starts; retired: a re-planned schedule no longer needs it
    "upcoming": {"open", "overdue", "submitted", "retired"},
    # retired from open or overdue: the change event that opened it was voided (recorded by mistake)
    "open": {"submitted", "overdue", "retired"},
    "overdue": {"submitted", "retired"},
    # upcoming/open/overdue: the only pending item was withdrawn; accepted: a newer version was rejected or
    # withdrawn while an earlier accepted one still stands
    "submitted": {"accepted", "rejected", "upcoming", "open", "overdue"},
    "rejected": {"submitted", "overdue"},
    "accepted": {"open", "submitted"},  # open: evidence expired before the period's end; submitted: a new version
    "retired": {"upcoming"},  # needed again (a control made applicable again, an end date moved out)
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

    Nothing due before ``first_due`` is requested in either case (a first due date moved later by an edit).
    """
    out = []
    for p in planned:
        if first_due is not None and p.period_end < first_due:
            continue
        if covered_until is not None:
            if p.period_start <= covered_until:
                continue
        elif p.period_end < today:
            continue
        out.append(p)
    return out


@dataclass(frozen=True)
class Replan:
    """What re-planning does to a requirement's existing requests (see ``replan``)."""
    retire: list[int]  # ids of upcoming requests no longer planned
    reshape: list[tuple[int, PlannedRequest]]  # requests whose period now ends elsewhere


def replan(current: list[tuple[int, str, dt.date, dt.date]], planned: list[PlannedRequest],
           end: dt.date | None = None, previous_end: dt.date | None = None) -> Replan:
    """Compare a requirement's requests ``(id, status, period_start, period_end)`` with its schedule as now
    planned (``plan``; empty when the control is not applicable any more), ``end`` being the engagement's
    end date and ``previous_end`` the one it had before the edit.

    Upcoming requests are the future: nothing was submitted against them, so the ones the schedule no
    longer has are retired (kept, never deleted) and the ones whose period changed (a new frequency, a new
    end date) are reshaped. An open request (its period has begun) is only reshaped by an end date: cut
    short by one that now falls inside its period, or given its whole period back when the end date that
    cut it moved. Every other request is history and is never touched; the scheduler then
    adds what the new schedule still lacks (``periods_to_add``).
    """
    by_start = {p.period_start: p for p in planned}
    retire, reshape = [], []
    for request_id, status, start, finish in current:
        wanted = by_start.get(start)
        if status == "upcoming":
            if wanted is None:
                retire.append(request_id)
            elif wanted.period_end != finish:
                reshape.append((request_id, wanted))
        elif status == "open" and wanted is not None and wanted.period_end != finish:
            cut_now = end is not None and wanted.period_end == end
            cut_before = previous_end is not None and finish == previous_end
            if cut_now or cut_before:
                reshape.append((request_id, wanted))
    return Replan(retire, reshape)
