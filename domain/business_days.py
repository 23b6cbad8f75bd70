"""Australian business days from the `holidays` package plus a manual override table.

Which calendar counts is a choice the clock records: the engagement's place (its site), the client's head
office, or the conservative intersection of the candidate states (a day is a holiday only where every
candidate keeps it, so no deadline lands later than any candidate's). Regional holidays (Brisbane's Royal
Queensland Show, Melbourne Cup Day, which regional Victorian councils substitute) count only for a site in
that region.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib.metadata import version

import holidays

PLACES = ("ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA")
CALENDARS = ("place", "head_office", "intersection")

# States that keep a clock of their own (no daylight saving, or another offset): a site there on another
# state's time counts its days wrong near midnight (a WA site on Sydney time ended 10 business days a day late).
PLACE_TIMEZONES = {"WA": ("Australia/Perth",), "SA": ("Australia/Adelaide",), "NT": ("Australia/Darwin",),
                   "QLD": ("Australia/Brisbane", "Australia/Lindeman")}
DEFAULT_TIMEZONE = "Australia/Sydney"

# Holidays the package lists state-wide that are kept in one region only: (place, name) -> region.
REGIONAL_HOLIDAYS = {("QLD", "The Royal Queensland Show"): "Brisbane", ("VIC", "Melbourne Cup Day"): "Melbourne"}


def default_timezone(place: str) -> str:
    """The timezone a site in ``place`` keeps when none is given."""
    return PLACE_TIMEZONES.get(place, (DEFAULT_TIMEZONE,))[0]


def check_place_timezone(place: str, timezone: str, site_elsewhere: bool = False) -> None:
    """A WA, SA, NT or QLD engagement on another state's time is refused unless the site runs elsewhere."""
    allowed = PLACE_TIMEZONES.get(place)
    if allowed and timezone not in allowed and not site_elsewhere:
        raise ValueError(f"{place} keeps {allowed[0]} time; {timezone} would count business days and deadlines "
                         f"on another state's clock. Use {allowed[0]}, or say the site runs elsewhere "
                         f"(site_elsewhere)")


@dataclass
class BusinessCalendar:
    """Working days of one Australian state or territory, or of the days every candidate state works.

    ``overrides`` maps a date to True (a holiday the package lacks) or False
    (a package holiday that is not one here, e.g. a local substitution). ``also``: further candidate states
    (the intersection calendar); ``region``: the site's region, for regional holidays.
    """
    place: str
    overrides: dict[dt.date, bool] = field(default_factory=dict)
    also: tuple[str, ...] = ()
    region: str = ""

    def __post_init__(self) -> None:
        for place in (self.place, *self.also):
            if place not in PLACES:
                raise ValueError(f"unknown place {place!r}; expected one of {', '.join(PLACES)}")
        self._tables = {p: holidays.country_holidays("AU", subdiv=p) for p in (self.place, *self.also)}

    @property
    def description(self) -> str:
        """What produced the deadline, recorded on each clock so it can be reproduced."""
        extra = f" + {len(self.overrides)} overrides" if self.overrides else ""
        places = "∩".join((self.place, *self.also))
        region = f" ({self.region})" if self.region else ""
        return f"AU-{places}{region} holidays {version('holidays')}{extra}"

    def _is_holiday(self, place: str, day: dt.date) -> bool:
        names = self._tables[place].get_list(day)
        return any(REGIONAL_HOLIDAYS.get((place, name), self.region) == self.region for name in names)

    def is_business_day(self, day: dt.date) -> bool:
        if day in self.overrides:
            return not self.overrides[day]
        if day.weekday() >= 5:
            return False
        return not all(self._is_holiday(place, day) for place in (self.place, *self.also))

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
