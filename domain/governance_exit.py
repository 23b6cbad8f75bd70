"""Exit readiness (the seed's clause 5; SPEC §9): each item of the transition-assistance schedule is current,
stale or missing, and the engagement's readiness is the share of its applicable items that are current.

An item is *current* while its latest accepted evidence is still valid (``valid_until`` on or after the day),
*stale* once that evidence has lapsed (runbooks not kept current), *missing* when nothing was ever accepted.
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

# The exit plan (SP-09) and the transition-assistance controls of controls/common/exit.yaml, in reading order.
EXIT_CONTROLS = ("SP-09", "EX-01", "EX-02", "EX-03", "EX-04", "EX-05", "EX-06", "EX-07", "EX-08")
STATES = ("current", "stale", "missing")
TREND_MONTHS = 6


def item_state(valid_until: dt.date | None, day: dt.date) -> str:
    if valid_until is None:
        return "missing"
    return "current" if valid_until >= day else "stale"


def readiness(states: list[str]) -> int | None:
    """Whole per cent of items current, rounded half up; None when the engagement has no exit item."""
    if not states:
        return None
    share = Decimal(100 * states.count("current")) / Decimal(len(states))
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def state_on(proofs: list[tuple[dt.date, dt.date | None]], day: dt.date) -> str:
    """An item's state on ``day`` from its accepted evidence: (the day it was accepted, valid until)."""
    known = [until for accepted, until in proofs if accepted <= day]
    if not known:
        return "missing"
    return item_state(max((u for u in known if u is not None), default=day), day)


def month_ends(today: dt.date, months: int = TREND_MONTHS) -> list[dt.date]:
    """The last day of each of the ``months`` months before this one, oldest first, then today."""
    ends, first = [], today.replace(day=1)
    for _ in range(months):
        first_of_previous = (first - dt.timedelta(days=1)).replace(day=1)
        ends.append(first - dt.timedelta(days=1))
        first = first_of_previous
    return [*reversed(ends), today]
