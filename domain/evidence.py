"""The evidence state machine and the request states it drives (SPEC §2). Pure rules: no Flask, no peewee.

An item is ``submitted`` on upload; a client reviewer ``accept``s or ``reject``s it, or its uploader
``withdraw``s it while it is still pending. An accepted item is later ``superseded`` (a newer version was
accepted) or ``expired`` (its ``valid_until`` passed). Nothing is ever deleted.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable

from .errors import Conflict, DomainError, ValidationError
from .schedule import can_move as request_can_move

TRANSITIONS: dict[str, set[str]] = {
    "submitted": {"accepted", "rejected", "withdrawn"},
    "accepted": {"superseded", "expired"},
    "rejected": set(),
    "withdrawn": set(),
    "superseded": set(),
    "expired": set(),
}
DECISIONS = {"accept": "accepted", "reject": "rejected"}
PENDING = "submitted"


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, set())


def check_move(current: str, new: str) -> None:
    """Conflict (409) unless ``current -> new`` is allowed: a decided item cannot be decided again."""
    if not can_move(current, new):
        raise Conflict(f"evidence is {current}: it cannot become {new}")


def request_after_upload(current: str) -> str | None:
    """A request with new evidence is ``submitted`` (None: it already is)."""
    return None if current == "submitted" else "submitted"


def request_after_decision(others: Iterable[str], fallback: str) -> str:
    """The request's state once one item left ``submitted`` (accepted, rejected or withdrawn).

    ``others`` are the states of the request's other versions. Another pending item keeps the request
    ``submitted``; an accepted version still standing keeps it ``accepted``; otherwise ``fallback``:
    ``rejected`` after a rejection (back to the provider, with the reason), or where time puts a request
    without evidence after a withdrawal (upcoming, open or overdue).
    """
    others = set(others)
    if PENDING in others:
        return "submitted"
    if "accepted" in others:
        return "accepted"
    return fallback


def request_move_allowed(current: str, new: str) -> bool:
    return current == new or request_can_move(current, new)


def valid_until(effective_date: dt.date, validity_days: int) -> dt.date:
    """The last day an accepted item proves its requirement."""
    return effective_date + dt.timedelta(days=validity_days)


def check_effective_date(value: dt.date, today: dt.date) -> None:
    """Evidence cannot have been produced after today (the engagement's local date)."""
    if value > today:
        raise ValidationError("effective_date is in the future: when was the evidence produced?",
                              field="effective_date")


MAX_FILENAME = 200
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # control, format (bidi), surrogate, unassigned


def safe_filename(raw: str, fallback: str = "evidence") -> str:
    """The original filename as display text only: no directory part (either slash), no control, format
    (bidi overrides, zero-width) or unassigned characters, whitespace collapsed, no leading dots, at most
    ``MAX_FILENAME`` characters with the extension kept. A NUL is refused (DomainError), as everywhere."""
    if "\x00" in raw:
        raise DomainError("the file name contains a NUL character", field="file")
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(" " if ch.isspace() else ch for ch in name
                   if unicodedata.category(ch) not in _DROPPED_CATEGORIES or ch in "\t\n\r")
    name = " ".join(name.split()).lstrip(". ")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and 0 < len(ext) <= 10 else ""
        keep = MAX_FILENAME - (len(ext) + 1 if ext else 0)
        name = (stem if ext else name)[:keep].rstrip() + (f".{ext}" if ext else "")
    return name or fallback
