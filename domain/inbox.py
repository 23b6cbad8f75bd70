"""What a work list (the provider's inbox, the review queue) may be narrowed to by due date, and how a long
list is cut into pages. Pure rules: no database, no clock (``now`` is passed in)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain.errors import ValidationError

# ``?due=`` values: name -> label. "7d" and "30d" are cumulative (due within 7 / 30 days from now).
DUE_WINDOWS: dict[str, str] = {"overdue": "Past due (overdue)", "7d": "Due in the next 7 days",
                               "30d": "Due in the next 30 days", "later": "Due later than 30 days"}
DUE_DAYS = {"7d": 7, "30d": 30}
LATER_AFTER_DAYS = 30
PAGE_SIZE = 50


def parse_due(value: str | None) -> str:
    """A ``?due=`` value ('' for none); ValidationError naming the choices for anything else."""
    if not value:
        return ""
    if value not in DUE_WINDOWS:
        raise ValidationError(f"due must be one of {', '.join(DUE_WINDOWS)}", field="due")
    return value


def due_bounds(window: str, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The half-open interval [start, end) of due instants a window admits (None: unbounded on that side)."""
    if window == "overdue":
        return None, now
    if window in DUE_DAYS:
        return now, now + dt.timedelta(days=DUE_DAYS[window])
    if window == "later":
        return now + dt.timedelta(days=LATER_AFTER_DAYS), None
    return None, None


def page_count(total: int, per_page: int = PAGE_SIZE) -> int:
    """How many pages a list of ``total`` rows fills (an empty list is one empty page)."""
    return max(1, -(-total // per_page))


def clamp_page(page: int, total: int, per_page: int = PAGE_SIZE) -> int:
    """A page that exists: below 1 is the first, past the end is the last (a count is never shown without
    its rows)."""
    return min(max(1, page), page_count(total, per_page))


@dataclass(frozen=True)
class Slice:
    """Rows ``offset`` to ``offset + limit`` of one section of a list paged as a whole."""
    section: str
    offset: int
    limit: int


def slices(counts: dict[str, int], page: int, per_page: int = PAGE_SIZE) -> list[Slice]:
    """Which rows of each section (in the order of ``counts``) fill page ``page`` of the sections read one
    after the other: a section spills onto the next page, and the next section starts where it ends."""
    start, end, before, out = (page - 1) * per_page, page * per_page, 0, []
    for section, count in counts.items():
        first, last = max(start, before), min(end, before + count)
        if first < last:
            out.append(Slice(section, first - before, last - first))
        before += count
    return out
