"""The service provider register's rules (SPEC §2; CPS 230 49 and 59(b), APP 8, the contract's
sub-contractor clause). Pure: no Flask, no database.

A sub-contractor (fourth party) is proposed by the provider and decided once by the client:

    proposed → approved | rejected

A decision needs a reason; the provider cannot decide; a decided sub-contractor cannot be decided
again. An offshore one (data held or accessed outside Australia) cannot be approved before APRA has
been notified of the offshoring (CPS 230 59(b), 2026 60(b): APRA is told *before* go-live).
"""
from __future__ import annotations

import datetime as dt
import unicodedata

import pycountry

from .errors import Conflict, ValidationError

STATES = ("proposed", "approved", "rejected")
TRANSITIONS: dict[str, set[str]] = {
    "proposed": {"approved", "rejected"},
    "approved": set(),
    "rejected": set(),
}
DECISIONS = {"approve": "approved", "reject": "rejected"}
DECIDING_SIDE = "client"
HOME_COUNTRY = "AU"


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, set())


def country_codes(values: object) -> list[str]:
    """ISO 3166-1 alpha-2 codes (upper case, unique, in order); ValidationError names a bad one."""
    if isinstance(values, str):
        values = [v for v in values.replace(";", ",").split(",")]
    if not isinstance(values, list) or not values:
        raise ValidationError("countries must be a non-empty list of ISO 3166 alpha-2 codes (e.g. AU, PH)",
                              field="countries")
    codes: list[str] = []
    for value in values:
        code = value.strip().upper() if isinstance(value, str) else ""
        if len(code) != 2 or not code.isascii() or pycountry.countries.get(alpha_2=code) is None:
            shown = value.strip() if isinstance(value, str) else value
            raise ValidationError(f"unknown country code {shown!r}: use ISO 3166 alpha-2 codes such as AU, PH, IN",
                                  field="countries")
        if code not in codes:
            codes.append(code)
    return codes


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country else code


def is_offshore(countries: list[str]) -> bool:
    """Data held or accessed anywhere outside Australia makes the arrangement offshore."""
    return any(code != HOME_COUNTRY for code in countries)


def text_list(values: object, field: str, *, limit: int = 120, required: bool = True) -> list[str]:
    """A list of short single-line texts (a comma-separated string is accepted from forms)."""
    if isinstance(values, str):
        values = [v for v in values.split(",")]
    if values is None:
        values = []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValidationError(f"{field} must be a list of texts", field=field)
    items = [unicodedata.normalize("NFC", v.strip()) for v in values if v.strip()]
    if required and not items:
        raise ValidationError(f"{field} needs at least one entry", field=field)
    for item in items:
        if len(item) > limit:
            raise ValidationError(f"an entry of {field} is longer than {limit} characters", field=field)
        if any(unicodedata.category(c) in ("Cc", "Cf") for c in item):
            raise ValidationError(f"{field} contains control or invisible characters", field=field)
    return list(dict.fromkeys(items))


def check_decision(*, status: str, side: str, decision: object, reason: str, offshore: bool,
                   apra_notified_on: dt.date | None) -> str:
    """The state a decision moves a sub-contractor to, or the error that refuses it (nothing changes)."""
    if side != DECIDING_SIDE:
        raise ValidationError("only the client decides on a sub-contractor", field="decision")
    if decision not in DECISIONS:
        raise ValidationError("decision must be 'approve' or 'reject'", field="decision")
    target = DECISIONS[decision]
    if not can_move(status, target):
        raise Conflict(f"this sub-contractor was already {status}; a decision is final", field="decision")
    if not reason:
        raise ValidationError("a decision needs a reason", field="reason")
    if target == "approved" and offshore and apra_notified_on is None:
        raise Conflict("an offshore sub-contractor cannot be approved before APRA has been notified "
                       "(CPS 230 59(b)): record the APRA notice date first", field="apra_notified_on")
    return target


def check_apra_notice(*, notified_on: dt.date, proposed_on: dt.date, today: dt.date, status: str) -> None:
    """An APRA offshoring notice is recorded before the decision, dated between proposal and today."""
    if status != "proposed":
        raise Conflict(f"the sub-contractor is already {status}; APRA must be notified before go-live",
                       field="notified_on")
    if notified_on > today:
        raise ValidationError("the APRA notice date cannot be in the future", field="notified_on")
    if notified_on < proposed_on - dt.timedelta(days=365):
        raise ValidationError("the APRA notice date is more than a year before the proposal", field="notified_on")


def starts_prior_notice(material: bool, offshore: bool) -> bool:
    """A proposed material or offshore sub-contractor starts the contract's prior-notice clock (T14)."""
    return material or offshore


def is_cross_border_recipient(status: str, countries: list[str], personal_information: bool) -> bool:
    """APP 8: an approved sub-contractor outside Australia that receives personal information."""
    return status == "approved" and personal_information and is_offshore(countries)
