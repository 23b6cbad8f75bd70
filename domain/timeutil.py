"""UTC storage, local display. Every stored instant is naive UTC."""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .errors import ValidationError

_DATE = re.compile(r"^(19|2[0-9])\d\d-\d\d-\d\d$")  # YYYY-MM-DD, years 1900-2999


@lru_cache(maxsize=1)
def _timezone_names() -> frozenset[str]:
    """IANA Area/Location names (plus UTC): not host-dependent ones such as 'localtime' or 'Factory'."""
    return frozenset(name for name in available_timezones()
                     if "/" in name and not name.startswith(("Etc/", "posix/", "right/"))) | {"UTC"}


def parse_timezone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or name not in _timezone_names():
        raise ValueError(f"unknown timezone {name!r}; use an IANA name such as Australia/Sydney")
    return ZoneInfo(name)


def to_utc_naive(value: dt.datetime) -> dt.datetime:
    """An aware datetime as naive UTC; naive input is rejected, never guessed."""
    if value.tzinfo is None:
        raise ValueError("datetime needs a UTC offset, e.g. 2026-03-01T09:00:00+11:00")
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def parse_instant(text: str) -> dt.datetime:
    """ISO 8601 with offset -> naive UTC."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    try:
        return to_utc_naive(value)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last instant a datetime can hold
        raise ValueError(f"{text!r} is out of the range of date-times") from None


def parse_date(text: str) -> dt.date:
    """A calendar date written YYYY-MM-DD (years 1900-2999); week dates and 20250101 are refused."""
    try:
        if not _DATE.match(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def date_field(data: dict, field: str, *, required: bool = True) -> dt.date | None:
    """The date a request body gives under ``field`` (YYYY-MM-DD); None when absent and not required."""
    value = data.get(field)
    if value in (None, ""):
        if required:
            raise ValidationError(f"{field} is required (YYYY-MM-DD)", field=field)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a date (YYYY-MM-DD)", field=field)
    try:
        return parse_date(value.strip())
    except ValueError as exc:
        raise ValidationError(f"{field}: {exc}", field=field) from None


def local(value: dt.datetime | None, tz: str) -> dt.datetime | None:
    """Naive UTC -> aware local time in ``tz``."""
    if value is None:
        return None
    try:
        zone = ZoneInfo(tz)
    except ZoneInfoNotFoundError:
        zone = ZoneInfo("UTC")
    return value.replace(tzinfo=dt.UTC).astimezone(zone)


def end_of_local_day(day: dt.date, tz: str) -> dt.datetime:
    """23:59:59 local on ``day``, as naive UTC."""
    return to_utc_naive(dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=ZoneInfo(tz)))


def start_of_local_day(day: dt.date, tz: str) -> dt.datetime:
    """00:00 local on ``day``, as naive UTC."""
    return to_utc_naive(dt.datetime.combine(day, dt.time(0, 0), tzinfo=ZoneInfo(tz)))


def isoformat_utc(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


def local_text(value: dt.datetime | None, tz: str, *, seconds: bool = False) -> str:
    """Naive UTC as people read it in ``tz``, always with its offset: ``06 Oct 2026 10:00 AEDT (+11:00)``
    (a zone without a letter abbreviation shows the offset once: ``06 Oct 2026 10:00 (+05:30)``)."""
    moment = local(value, tz)
    if moment is None:
        return ""
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    name = moment.strftime("%Z")
    shown = moment.strftime("%d %b %Y %H:%M:%S" if seconds else "%d %b %Y %H:%M")
    return f"{shown} {name} ({offset})" if name[:1].isalpha() else f"{shown} ({offset})"
