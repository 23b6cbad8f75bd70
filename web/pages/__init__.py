"""Server-rendered pages, one module per resource (imported at the bottom). Thin: parse, authorise
through services.scope, call a service, render. Shared helpers: ``current``, ``page_number``.

Every engagement query starts from ``services.scope`` (engagements_for, engagement_for,
requests_for, visible_controls); the library pages are global to any signed-in user.
Each page fetches what it shows in a fixed number of queries (no N+1).
"""
from __future__ import annotations

import importlib
import pkgutil
import re

from flask import Blueprint, Response, request
from flask_login import current_user, login_required

from domain.media_labels import media_label
from domain.timeutil import local
from models.register import REQUEST_STATES
from services.register import queries
from web import idempotency
from web.openapi import MAX_PAGE

bp = Blueprint("pages", __name__)
PER_PAGE = 50
NEXT_DUE = 20
OPEN_STATES = ("overdue", "rejected", "open", "upcoming")
FREQUENCY_NAMES = {"P1D": "Daily", "P1W": "Weekly", "P1M": "Monthly", "P3M": "Quarterly",
                   "P6M": "Half-yearly", "P1Y": "Annual", "P2Y": "Every two years", "event": "On event"}
FREQUENCY_UNITS = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}
REQUIRES_NAMES = {"card_payments": "Card payments only", "offshore": "Offshore only"}


@bp.before_request
@login_required
def _signed_in() -> None:
    """Every page here needs a signed-in user."""


@bp.before_request
def _idempotent() -> Response | None:
    """A creating form submitted again (a double click, a reload) shows the first submission's outcome."""
    return idempotency.begin(current(), wait=True)


@bp.app_template_filter("frequency")
def frequency_label(text: str | None) -> str:
    if not text:
        return "—"
    name = FREQUENCY_NAMES.get(text)
    if name is None and (match := re.fullmatch(r"P(\d+)([DWMY])", text)):
        name = f"Every {match[1]} {FREQUENCY_UNITS[match[2]]}"
    return f"{name} ({text})" if name and text != "event" else (name or text)


bp.add_app_template_filter(media_label, "media_label")


@bp.app_template_filter("status_label")
def status_label(status: str) -> str:
    return status.replace("_", " ").capitalize()


@bp.record_once
def _jinja_globals(state) -> None:
    """Globals (not a context processor) so that imported macros see them too."""
    state.app.jinja_env.globals.update(REQUEST_STATES=REQUEST_STATES, REQUIRES_NAMES=REQUIRES_NAMES,
                                      accepted_types=queries.accepted_types, local=local)


def current():
    return current_user._get_current_object()


def bulk_form_data() -> dict:
    """A bulk decision form (``bulk_form`` in templates/_macros.html) as the services read it."""
    return {"ids": request.form.getlist("ids"), "decision": request.form.get("decision"),
            "comment": request.form.get("comment") or None}


def page_number() -> int:
    """Pages are forgiving: a bad or out-of-range ?page= shows the nearest real page."""
    try:
        return min(MAX_PAGE, max(1, int(request.args.get("page", "1"))))
    except ValueError:
        return 1



# Every module of this package registers its views on ``bp`` when imported: a new resource needs no edit here.
def _import_resources() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}")


_import_resources()
