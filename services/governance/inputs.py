"""Parsing shared by the governance services: people of an engagement, dates, instants, flags."""
from __future__ import annotations

import datetime as dt

import peewee as pw

from domain.errors import ValidationError
from domain.timeutil import date_field, parse_instant
from models import Engagement, User
from services.register.subcontractors import side_of

__all__ = ["side_of", "person", "people", "date_field", "instant_field", "flag", "json_object"]

MAX_PEOPLE = 100


def person(engagement: Engagement, value: object, field: str) -> User:
    """An active user of the engagement's client or provider, by e-mail; the same error for anyone else, so
    another organisation's people do not leak."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be the e-mail of a user of this engagement", field=field)
    user = User.get_or_none(pw.fn.LOWER(User.email) == value.strip().lower())
    if user is None or not user.is_active or user.organisation_id not in (engagement.client_id,
                                                                          engagement.provider_id):
        raise ValidationError(f"{field}: {value.strip()!r} is not a user of this engagement's client or provider",
                              field=field)
    return user


def people(engagement: Engagement, values: object, field: str, *, required: bool = False) -> list[User]:
    """A list of users of the engagement (e-mails; a comma-separated string from forms), each once."""
    if isinstance(values, str):
        values = [v for v in values.replace(";", ",").replace("\n", ",").split(",") if v.strip()]
    if values is None:
        values = []
    if not isinstance(values, list):
        raise ValidationError(f"{field} must be a list of e-mails", field=field)
    if required and not values:
        raise ValidationError(f"{field} needs at least one person", field=field)
    if len(values) > MAX_PEOPLE:
        raise ValidationError(f"{field} has more than {MAX_PEOPLE} people", field=field)
    found: dict[int, User] = {}
    for value in values:
        user = person(engagement, value, field)
        found.setdefault(user.id, user)
    return list(found.values())


def instant_field(data: dict, field: str, default: dt.datetime) -> dt.datetime:
    value = data.get(field)
    if value in (None, ""):
        return default
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be an ISO 8601 date-time with its offset", field=field)
    try:
        return parse_instant(value.strip())
    except ValueError as exc:
        raise ValidationError(str(exc), field=field) from None


def flag(data: dict, field: str) -> bool:
    value = data.get(field, False)
    if isinstance(value, bool):
        return value
    if value in ("1", "true", "on", "yes"):
        return True
    if value in (None, "", "0", "false", "off", "no"):
        return False
    raise ValidationError(f"{field} must be true or false", field=field)


def json_object(data: object) -> dict:
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    return data
