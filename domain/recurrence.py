"""Testing schedules: ISO 8601 durations (P3M, P1Y, P90D, P1W) or RFC 5545 RRULEs.

A schedule never drifts: the k-th occurrence is computed from the anchor
(anchor + k * step), never from the previous occurrence, so a quarterly schedule
anchored on 31 January gives 30 April, 31 July, 31 October, 31 January.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

EVENT = "event"  # driven by events (incidents, changes), not by a calendar
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
MAX_OCCURRENCES = 100_000
_SAMPLE_PERIODS = 60  # periods of an RRULE sampled for its longest one (five years of a monthly rule)


@dataclass(frozen=True)
class Frequency:
    text: str
    step: relativedelta | None = None  # set for ISO durations
    rrule: str | None = None  # set for RRULEs

    @property
    def is_event(self) -> bool:
        return self.step is None and self.rrule is None

    def occurrences(self, anchor: dt.date, until: dt.date) -> Iterator[dt.date]:
        """Start dates of every period from ``anchor`` up to and including ``until``."""
        if self.is_event:
            return
        if self.step is not None:
            k = 0
            while k < MAX_OCCURRENCES:
                day = anchor + self.step * k
                if day > until:
                    return
                yield day
                k += 1
            return
        rule = rrulestr(self.rrule, dtstart=dt.datetime.combine(anchor, dt.time()))
        for i, occurrence in enumerate(rule):
            if occurrence.date() > until or i >= MAX_OCCURRENCES:
                return
            yield occurrence.date()

    def periods(self, anchor: dt.date, until: dt.date) -> list[tuple[dt.date, dt.date]]:
        """(first day, last day) of every period starting on or before ``until``.

        Each period ends the day before the next one starts.
        """
        starts = list(self.occurrences(anchor, until))
        if not starts:
            return []
        following = self.next_after(starts[-1], anchor)
        ends = [s - dt.timedelta(days=1) for s in starts[1:]] + [following - dt.timedelta(days=1)]
        return list(zip(starts, ends, strict=True))

    def longest_days(self) -> int | None:
        """The most days one period can span (P3M: 92, P1Y: 366, P1M: 31); None for event-driven schedules.

        The bound evidence validity is checked against: proof of a quarterly test never outlives a quarter."""
        if self.is_event:
            return None
        if self.step is not None:  # months and years are longest from the 1st of a month, leap years included
            starts = [dt.date(year, month, 1) for year in range(2024, 2028) for month in range(1, 13)]
            return max((start + self.step - start).days for start in starts)
        rule = rrulestr(self.rrule, dtstart=dt.datetime(2024, 1, 1))
        days = [d.date() for _, d in zip(range(_SAMPLE_PERIODS + 1), rule, strict=False)]
        return max((b - a).days for a, b in zip(days, days[1:], strict=False)) if len(days) > 1 else None

    def next_after(self, day: dt.date, anchor: dt.date) -> dt.date:
        """The first occurrence strictly after ``day``."""
        if self.step is not None:
            k = 0
            while anchor + self.step * k <= day:
                k += 1
            return anchor + self.step * k
        rule = rrulestr(self.rrule, dtstart=dt.datetime.combine(anchor, dt.time()))
        nxt = rule.after(dt.datetime.combine(day, dt.time()), inc=False)
        if nxt is None:
            raise ValueError(f"schedule {self.text!r} has no occurrence after {day}")
        return nxt.date()


_RRULE_FORBIDDEN = {"COUNT": "a testing schedule never ends", "UNTIL": "a testing schedule never ends"}
_RRULE_FREQUENCIES = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}


def _check_rrule_parts(value: str, body: str) -> None:
    """A schedule must go on for ever (no COUNT/UNTIL) in whole days (no HOURLY and finer)."""
    parts = dict(part.split("=", 1) for part in body[len("RRULE:"):].upper().split(";") if "=" in part)
    for name, why in _RRULE_FORBIDDEN.items():
        if name in parts:
            raise ValueError(f"frequency {value!r}: {name} is not allowed ({why})")
    if parts.get("FREQ") not in _RRULE_FREQUENCIES:
        raise ValueError(f"frequency {value!r}: FREQ must be one of {', '.join(sorted(_RRULE_FREQUENCIES))}")


def parse_frequency(text: str) -> Frequency:
    """Parse ``P3M``, ``P1Y``, ``RRULE:FREQ=MONTHLY;INTERVAL=3`` or ``event``; ValueError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("frequency is empty")
    value = text.strip()
    if value == EVENT:
        return Frequency(value)
    match = _DURATION.match(value)
    if match:
        years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
        if not any((years, months, weeks, days)):
            raise ValueError(f"frequency {value!r} is a zero duration")
        return Frequency(value, step=relativedelta(years=years, months=months, weeks=weeks, days=days))
    if value.upper().startswith("RRULE:") or value.upper().startswith("FREQ="):
        body = value if value.upper().startswith("RRULE:") else "RRULE:" + value
        _check_rrule_parts(value, body)
        try:
            rule = rrulestr(body, dtstart=dt.datetime(2000, 1, 1))
            rule.after(dt.datetime(2000, 1, 1), inc=True)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"frequency {value!r} is not a valid RRULE: {exc}") from None
        return Frequency(value, rrule=body)
    raise ValueError(f"frequency {value!r} is not an ISO 8601 duration (P3M), an RRULE or 'event'")
