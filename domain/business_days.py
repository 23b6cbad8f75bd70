"""Australian business days from the `holidays` package plus a manual override table."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib.metadata import version

import holidays

PLACES = ("ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA")


@dataclass
class BusinessCalendar:
    """Working days of one Australian state or territory.

    ``overrides`` maps a date to True (a holiday the package lacks) or False
    (a package holiday that is not one here, e.g. a local substitution).
    """
    place: str
    overrides: dict[dt.date, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.place not in PLACES:
            raise ValueError(f"unknown place {self.place!r}; expected one of {', '.join(PLACES)}")
        self._holidays = holidays.country_holidays("AU", subdiv=self.place)

    @property
    def description(self) -> str:
        """What produced the deadline, recorded on each clock so it can be reproduced."""
        extra = f" + {len(self.overrides)} overrides" if self.overrides else ""
        return f"AU-{self.place} holidays {version('holidays')}{extra}"

    def is_business_day(self, day: dt.date) -> bool:
        if day in self.overrides:
            return not self.overrides[day]
        return day.weekday() < 5 and day not in self._holidays

    def add_business_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th business day after ``start``; ``start`` itself is not counted."""
        if n < 1:
            raise ValueError("n must be at least 1")
        day, counted = start, 0
        while counted < n:
            day += dt.timedelta(days=1)
            if self.is_business_day(day):
                counted += 1
        return day
