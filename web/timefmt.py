"""Every page shows times in the engagement's local time, or the reader's, with the offset: never bare UTC.

``{{ value | when(engagement.timezone) }}`` for an engagement's times; ``{{ value | when }}`` for a user's own
(tokens, notifications, sign-ins, webhooks): the timezone of the first engagement the user may see, else the
default (Australia/Sydney). ``{{ value | when_iso }}`` is the same instant for a ``<time datetime>``.
"""
from __future__ import annotations

import datetime as dt

from flask import Flask, g
from flask_login import current_user

from domain.business_days import DEFAULT_TIMEZONE
from domain.timeutil import local, local_text
from models import Engagement
from services import scope

_ZONE = "reader_timezone"


def reader_timezone() -> str:
    """The signed-in reader's timezone (once per request)."""
    if _ZONE not in g:
        user = current_user if getattr(current_user, "is_authenticated", False) else None
        first = scope.engagements_for(user).order_by(Engagement.id).first() if user else None
        g.setdefault(_ZONE, first.timezone if first is not None else DEFAULT_TIMEZONE)
    return g.get(_ZONE)


def when(value: dt.datetime | None, tz: str | None = None, seconds: bool = False) -> str:
    return local_text(value, tz or reader_timezone(), seconds=seconds) if value else ""


def when_iso(value: dt.datetime | None, tz: str | None = None) -> str:
    moment = local(value, tz or reader_timezone()) if value else None
    return moment.isoformat() if moment else ""


def init_app(app: Flask) -> None:
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["when_iso"] = when_iso
