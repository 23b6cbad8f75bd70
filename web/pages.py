"""Server-rendered pages. Thin: parse, authorise through services.scope, call a service, render.

Every engagement query starts from ``services.scope`` (engagements_for, engagement_for,
requests_for, visible_controls); the library pages are global to any signed-in user.
Each page fetches what it shows in a fixed number of queries (no N+1).
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from domain.business_days import PLACES
from domain.errors import DomainError, NotFound
from domain.timeutil import local
from models import Control, EvidenceRequest
from models.register import REQUEST_STATES
from services import engagements as engagement_service
from services import register, scope
from web import exports
from web.auth import client_ip
from web.forms import EngagementForm
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


@bp.app_template_filter("frequency")
def frequency_label(text: str | None) -> str:
    if not text:
        return "—"
    name = FREQUENCY_NAMES.get(text)
    if name is None and (match := re.fullmatch(r"P(\d+)([DWMY])", text)):
        name = f"Every {match[1]} {FREQUENCY_UNITS[match[2]]}"
    return f"{name} ({text})" if name and text != "event" else (name or text)


@bp.app_template_filter("status_label")
def status_label(status: str) -> str:
    return status.replace("_", " ").capitalize()


@bp.record_once
def _jinja_globals(state) -> None:
    """Globals (not a context processor) so that imported macros see them too."""
    state.app.jinja_env.globals.update(REQUEST_STATES=REQUEST_STATES, REQUIRES_NAMES=REQUIRES_NAMES,
                                      accepted_types=register.accepted_types, local=local)


def _user():
    return current_user._get_current_object()


# ---------------------------------------------------------------- home and library

@bp.route("/")
def home() -> str:
    return render_template("home.html", summaries=register.engagement_summaries(_user()))


@bp.route("/library")
def library() -> str:
    return render_template("library.html", frameworks=list(register.live_frameworks()),
                           counts=register.obligation_counts())


@bp.route("/library/<code>")
def framework(code: str) -> str:
    fw = register.framework_by_code(code)
    controls_of: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for obligation_id, _cid, ccode, ctitle, coverage in register.mappings_of_framework(fw):
        controls_of[obligation_id].append((ccode, ctitle, coverage))
    return render_template("framework.html", framework=fw, obligations=register.obligations_of(fw),
                           controls_of=controls_of)


@bp.route("/controls/<code>")
def control(code: str) -> str:
    row = Control.get_or_none(Control.code == code)
    if row is None:
        raise NotFound(f"no control {code!r} in the library")
    return render_template("control.html", control=row, mappings=register.mappings_of([row.id])[row.id],
                           requirements=register.requirements_of([row.id])[row.id])


@bp.route("/coverage")
def coverage() -> str:
    frameworks = list(register.live_frameworks())
    if not frameworks:
        return render_template("coverage.html", matrix=None, frameworks=[])
    code = request.args.get("framework") or frameworks[0].code
    matrix = register.coverage_matrix(register.framework_by_code(code))
    return render_template("coverage.html", matrix=matrix, frameworks=frameworks)


@bp.route("/coverage.<any(csv, xlsx):fmt>")
def coverage_export(fmt: str) -> Response:
    matrix = register.coverage_matrix(register.framework_by_code(request.args.get("framework", "")))
    stem = f"coverage-{matrix.framework.code}-{dt.date.today().isoformat()}"
    if fmt == "csv":
        return exports.csv_download(f"{stem}.csv", matrix.HEADERS, matrix.rows())
    return exports.xlsx_download(f"{stem}.xlsx", f"Coverage {matrix.framework.code}", matrix.HEADERS, matrix.rows())


# ---------------------------------------------------------------- engagements

@bp.route("/engagements")
def engagements() -> str:
    return render_template("engagements.html", summaries=register.engagement_summaries(_user()))


def _new_form(form: EngagementForm, error: DomainError | None = None, status: int = 200):
    return render_template("engagement_new.html", form=form, error=error, places=PLACES,
                           frameworks=list(register.live_frameworks())), status


@bp.route("/engagements/new", methods=["GET", "POST"])
def new_engagement():
    scope.require_engagement_creator(_user())
    if request.method == "GET":
        return _new_form(EngagementForm.blank())
    form = EngagementForm.from_request(request.form)
    try:
        engagement = engagement_service.create_engagement(_user(), form.as_dict(), ip=client_ip())
    except DomainError as exc:
        return _new_form(form, exc, 422)
    flash(f"Engagement “{engagement.name}” created with its Statement of Applicability and first requests.",
          "success")
    return redirect(url_for("pages.engagement", engagement_id=engagement.id))


@bp.route("/engagements/<int:engagement_id>")
def engagement(engagement_id: int) -> str:
    user = _user()
    row = scope.engagement_for(user, engagement_id)
    requests = scope.requests_for(user, row)
    upcoming = list(register.requests_with_names(requests.where(EvidenceRequest.status.in_(OPEN_STATES)))
                    .order_by(EvidenceRequest.due_at, EvidenceRequest.id).limit(NEXT_DUE))
    counts = register.status_counts(requests)
    return render_template("engagement.html", engagement=row, counts=counts, total=sum(counts.values()),
                           frameworks=register.frameworks_by_engagement(user, [row])[row.id], upcoming=upcoming,
                           granted=scope.granted_framework_codes(user, row))


def _page_number() -> int:
    """Pages are forgiving: a bad or out-of-range ?page= shows the nearest real page."""
    try:
        return min(MAX_PAGE, max(1, int(request.args.get("page", "1"))))
    except ValueError:
        return 1


@bp.route("/engagements/<int:engagement_id>/requests")
def engagement_requests(engagement_id: int) -> str:
    user = _user()
    row = scope.engagement_for(user, engagement_id)
    page, status = _page_number(), request.args.get("status", "")
    query = register.filter_requests(scope.requests_for(user, row), row, request.args)
    total = query.count()
    rows = list(register.requests_with_names(query).order_by(EvidenceRequest.due_at, EvidenceRequest.id)
                .paginate(page, PER_PAGE))
    return render_template("requests.html", engagement=row, rows=rows, status=status, page=page, total=total,
                           pages=max(1, -(-total // PER_PAGE)),
                           counts=register.status_counts(scope.requests_for(user, row)))


def _applicable_filter() -> bool | None:
    return register.parse_applicable(request.args.get("applicable"))


@bp.route("/engagements/<int:engagement_id>/soa")
def soa(engagement_id: int) -> str:
    user = _user()
    row = scope.engagement_for(user, engagement_id)
    rows = list(register.soa_query(user, row, _applicable_filter()))
    return render_template("soa.html", engagement=row, rows=rows, applicable=request.args.get("applicable", ""))


SOA_HEADERS = ("control", "title", "applicable", "justification", "frequency", "first_due_date")


def _soa_records(engagement_id: int) -> tuple[str, list[tuple]]:
    """The file name stem and rows of a Statement of Applicability export."""
    user = _user()
    row = scope.engagement_for(user, engagement_id)
    records = [(item.control.code, item.control.title, "yes" if item.applicable else "no", item.justification,
                item.frequency_override or item.control.frequency,
                item.first_due_date.isoformat() if item.first_due_date else "")
               for item in register.soa_query(user, row, _applicable_filter())]
    return f"soa-engagement-{row.id}-{dt.date.today().isoformat()}", records


@bp.route("/engagements/<int:engagement_id>/soa.csv")
def soa_csv(engagement_id: int) -> Response:
    stem, records = _soa_records(engagement_id)
    return exports.csv_download(f"{stem}.csv", SOA_HEADERS, records)


@bp.route("/engagements/<int:engagement_id>/soa.xlsx")
def soa_xlsx(engagement_id: int) -> Response:
    stem, records = _soa_records(engagement_id)
    return exports.xlsx_download(f"{stem}.xlsx", "Statement of Applicability", SOA_HEADERS, records)
