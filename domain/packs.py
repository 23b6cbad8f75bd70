"""Evidence packs: the build state machine and the rules a pack request must meet."""
from __future__ import annotations

import datetime as dt

from .errors import Conflict, ValidationError

# Allowed moves of a pack build; anything else is refused.
TRANSITIONS: dict[str, set[str]] = {
    "queued": {"building", "failed"},
    "building": {"ready", "failed", "queued"},  # queued again: its worker died (claim expired)
    "ready": set(),
    "failed": set(),
}
MAX_PERIOD_DAYS = 3 * 366 + 1


def check_transition(current: str, new: str) -> None:
    if new not in TRANSITIONS.get(current, set()):
        raise Conflict(f"a {current} pack cannot become {new}")


def check_period(start: dt.date, end: dt.date, today: dt.date | None = None) -> None:
    """A pack covers a real period: start on or before end, no longer than three years, and over by ``today``
    (the engagement's local date): a pack attests what happened, and of days to come there is no evidence yet,
    only a pack that would read as complete when it is not."""
    if end < start:
        raise ValidationError("period_end is before period_start", field="period_end")
    if today is not None and end > today:
        raise ValidationError(f"period_end {end.isoformat()} is in the future (today is {today.isoformat()} in the "
                              "engagement's timezone): a pack covers a period that has ended, up to today at the "
                              "latest", field="period_end")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise ValidationError("a pack covers at most three years", field="period_end")


def check_frameworks(requested: list[str], allowed: set[str]) -> list[str]:
    """The requested framework codes, de-duplicated in order; each must be in ``allowed``."""
    if not requested:
        raise ValidationError("choose at least one framework", field="frameworks")
    outside = sorted(set(requested) - allowed)
    if outside:
        raise ValidationError(f"framework(s) not available here: {', '.join(outside)}", field="frameworks")
    return list(dict.fromkeys(requested))
