"""The evidence state machine and the request states it drives (SPEC §2). Pure rules: no Flask, no peewee.

An item is ``submitted`` on upload; a client reviewer ``accept``s or ``reject``s it, or its uploader
``withdraw``s it while it is still pending. An accepted item is later ``superseded`` (a newer version was
accepted) or ``expired`` (its ``valid_until`` passed). Nothing is ever deleted.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable

from dateutil.relativedelta import relativedelta

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


def valid_until(effective_date: dt.date, validity_days: int, *, grace_days: int = 0,
                interval: relativedelta | None = None) -> dt.date:
    """The last day an accepted item proves its requirement: ``validity_days`` after its effective date, never
    later than one ``interval`` of its control's schedule (an annual test is stale after 12 months, a quarterly
    scan after 3), plus the engagement's ``grace_days``, the same grace a late request gets."""
    end = effective_date + dt.timedelta(days=validity_days)
    if interval is not None:
        end = min(end, effective_date + interval)
    return end + dt.timedelta(days=grace_days)


def check_effective_date(value: dt.date, today: dt.date) -> None:
    """Evidence cannot have been produced after today (the engagement's local date)."""
    if value > today:
        raise ValidationError("effective_date is in the future: when was the evidence produced?",
                              field="effective_date")


MAX_FILES = 20  # files in one submission (one version); together they stay within the upload size limit


def check_submission(hashes: list[str]) -> None:
    """A submission holds one to ``MAX_FILES`` files, each different: the same bytes twice is a mistake
    (a file dropped twice), refused rather than stored as two copies of one document."""
    if not hashes:
        raise ValidationError("no file was sent (multipart field 'file')", field="file")
    if len(hashes) > MAX_FILES:
        raise ValidationError(f"{len(hashes)} files sent; a submission holds at most {MAX_FILES}", field="file")
    seen: dict[str, int] = {}
    for position, sha in enumerate(hashes, start=1):
        if sha in seen:
            raise ValidationError(f"file {position} is the same as file {seen[sha]}: send each file once",
                                  field="file")
        seen[sha] = position


MAX_FILENAME = 200
# control, format (bidi overrides, zero-width), surrogate, private use, unassigned, line/paragraph separators
_REFUSED_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible formatting (bidi or zero-width) character",
                       "Cs": "a lone surrogate", "Co": "a private-use character", "Cn": "an unassigned character",
                       "Zl": "a line separator", "Zp": "a paragraph separator"}


def safe_filename(raw: str, fallback: str = "evidence") -> str:
    """The original filename, kept as sent when it is a plain name: refused (ValidationError on ``file``,
    422) when it has a directory part (either slash), a control, format (bidi overrides, zero-width),
    surrogate, private-use or unassigned character, is only dots, or is longer than ``MAX_FILENAME``; a NUL is
    refused as everywhere (DomainError, 400). Otherwise only NFC-normalised, runs of spaces made one and
    leading dots dropped (no hidden files); an empty name becomes ``fallback``."""
    if "\x00" in raw:
        raise DomainError("the file name contains a NUL character", field="file")
    name = unicodedata.normalize("NFC", raw)
    if "/" in name or "\\" in name:
        raise ValidationError("the file name contains a path separator ('/' or '\\'): send the file's own name "
                              "only", field="file")
    for ch in name:
        what = _REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if what:
            raise ValidationError(f"the file name contains {what} (U+{ord(ch):04X}): rename the file",
                                  field="file")
    if name and not name.strip(". "):
        raise ValidationError(f"{name!r} is not a file name", field="file")
    if len(name) > MAX_FILENAME:
        raise ValidationError(f"the file name is {len(name):,} characters long; at most {MAX_FILENAME}",
                              field="file")
    name = " ".join(name.split()).lstrip(". ")
    return name or fallback
