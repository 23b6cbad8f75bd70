"""Engagements: list, new, overview, requests and the Statement of Applicability (with exports)."""
from __future__ import annotations

import datetime as dt

from flask import Response, flash, redirect, render_template, request, url_for

from domain.business_days import PLACES
from domain.errors import DomainError
from domain.timeutil import local
from models import EvidenceRequest, utcnow
from services import scope
from services.register import applicability as applicability_service
from services.register import dashboard, invitations, queries
from services.register import engagements as engagement_service
from services.register import subcontractors as provider_register
from web import exports
from web.auth import client_ip
from web.forms import EngagementForm
from web.pages import NEXT_DUE, OPEN_STATES, PER_PAGE, bp, current, page_number
from web.pages.subcontractors import REGISTER_HEADERS, as_of_date, register_records


@bp.route("/engagements")
def engagements() -> str:
    return render_template("engagements.html", summaries=queries.engagement_summaries(current()))


def _new_form(form: EngagementForm, error: DomainError | None = None, status: int = 200):
    return render_template("engagement_new.html", form=form, error=error, places=PLACES,
                           frameworks=list(queries.live_frameworks())), status


@bp.route("/engagements/new", methods=["GET", "POST"])
def new_engagement():
    scope.require_engagement_creator(current())
    if request.method == "GET":
        return _new_form(EngagementForm.blank())
    form = EngagementForm.from_request(request.form)
    try:
        engagement = engagement_service.create_engagement(current(), form.as_dict(), ip=client_ip())
    except DomainError as exc:
        return _new_form(form, exc, 422)
    flash(f"Engagement “{engagement.name}” created with its Statement of Applicability and first requests; "
          f"{form.as_dict().get('provider')} is invited and sees it once one of its admins accepts.", "success")
    return redirect(url_for("pages.engagement", engagement_id=engagement.id))


@bp.route("/engagements/<int:engagement_id>")
def engagement(engagement_id: int) -> str:
    user = current()
    row = scope.engagement_for(user, engagement_id)
    requests = scope.requests_for(user, row)
    upcoming = list(queries.requests_with_names(requests.where(EvidenceRequest.status.in_(OPEN_STATES)))
                    .order_by(EvidenceRequest.due_at, EvidenceRequest.id).limit(NEXT_DUE))
    counts = queries.status_counts(requests)
    return render_template("engagement.html", engagement=row, counts=counts, total=sum(counts.values()),
                           frameworks=queries.frameworks_by_engagement(user, [row])[row.id], upcoming=upcoming,
                           granted=scope.granted_framework_codes(user, row),
                           invitation=invitations.by_engagement([row.id]).get(row.id))


REQUEST_LIST_SORTS = ("due", "-due", "control", "status")
REQUEST_FILTERS = ("status", "framework", "control", "owner", "due_after", "due_before", "sort")
REQUEST_HEADERS = ("request_id", "control", "control_title", "requirement", "period_start", "period_end",
                   "due_local", "status", "days_overdue")


def _request_query(engagement_id: int):
    """The engagement, its requests narrowed and sorted by the list's filters, and the filters themselves."""
    user = current()
    row = scope.engagement_for(user, engagement_id)
    args = {k: request.args.get(k, "") for k in REQUEST_FILTERS}
    sort = queries.parse_sort(args["sort"], REQUEST_LIST_SORTS)
    query = queries.filter_requests(user, queries.requests_with_names(scope.requests_for(user, row)), row, args)
    return row, queries.order_requests(query, sort), {k: v for k, v in args.items() if v}


@bp.route("/engagements/<int:engagement_id>/requests")
def engagement_requests(engagement_id: int):
    user = current()
    row = scope.engagement_for(user, engagement_id)
    error = None
    try:
        row, query, args = _request_query(engagement_id)
    except DomainError as exc:
        error, args = exc, {}
        query = queries.order_requests(queries.requests_with_names(scope.requests_for(user, row)), "due")
    page, total = page_number(), query.count()
    rows = list(query.paginate(page, PER_PAGE))
    return render_template("requests.html", engagement=row, rows=rows, status=args.get("status", ""), page=page,
                           total=total, pages=max(1, -(-total // PER_PAGE)), args=args, error=error,
                           now=utcnow(), choices=dashboard.filter_choices(user), sorts=REQUEST_LIST_SORTS,
                           counts=queries.status_counts(scope.requests_for(user, row))), 422 if error else 200


@bp.route(f"/engagements/<int:engagement_id>/requests.{exports.FORMATS}")
def requests_export(engagement_id: int, fmt: str) -> Response:
    """The request list as filtered and sorted on the page, every page of it."""
    row, query, _args = _request_query(engagement_id)
    now = utcnow()
    records = [(r.id, r.control.code, r.control.title, r.requirement.name, r.period_start,
                r.period_end, local(r.due_at, row.timezone), r.status,
                dashboard.days_overdue(r.due_at, now)) for r in query]
    return exports.table_download(fmt, f"requests-engagement-{row.id}-{dt.date.today().isoformat()}",
                                  "Evidence requests", REQUEST_HEADERS, records)


def _applicable_filter() -> bool | None:
    return queries.parse_applicable(request.args.get("applicable"))


@bp.route("/engagements/<int:engagement_id>/soa")
def soa(engagement_id: int) -> str:
    user = current()
    row = scope.engagement_for(user, engagement_id)
    rows = queries.redact_justifications(user, row, list(queries.soa_query(user, row, _applicable_filter())))
    history = applicability_service.history(row) if user.role != "auditor" else []
    as_of = as_of_date(row)
    return render_template("soa.html", engagement=row, rows=rows, applicable=request.args.get("applicable", ""),
                           can_manage=scope.permits(user, "manage"), history=history,
                           emails=applicability_service.owners_by_id(rows),
                           as_of=as_of, providers=provider_register.register_as_of(row, as_of))


@bp.route("/engagements/<int:engagement_id>/soa/<code>", methods=["GET", "POST"])
def soa_edit(engagement_id: int, code: str):
    user = current()
    engagement = scope.engagement_for(user, engagement_id, "manage")
    item = applicability_service.row_for(engagement, code)
    if request.method == "GET":
        return _soa_form(engagement, item)
    form = {k: request.form.get(k, "") for k in ("justification", "owner", "frequency_override", "first_due_date")}
    form["applicable"] = request.form.get("applicable") == "1"
    try:
        applicability_service.update(user, engagement.id, code, form, ip=client_ip())
    except DomainError as exc:
        return _soa_form(engagement, item, form, exc, 422 if exc.status == 400 else exc.status)
    flash(f"{code} is updated; its schedule follows.", "success")
    return redirect(url_for("pages.soa", engagement_id=engagement.id))


def _soa_form(engagement, item, form: dict | None = None, error: DomainError | None = None, status: int = 200):
    emails = applicability_service.owners_by_id([item])
    form = form or {"applicable": item.applicable, "justification": item.justification,
                    "owner": emails.get(item.owner_id, ""), "frequency_override": item.frequency_override or "",
                    "first_due_date": item.first_due_date.isoformat() if item.first_due_date else ""}
    return render_template("soa_edit.html", engagement=engagement, item=item, form=form, error=error), status


@bp.route("/engagements/<int:engagement_id>/edit", methods=["GET", "POST"])
def engagement_edit(engagement_id: int):
    user = current()
    engagement = scope.engagement_for(user, engagement_id, "manage")
    current_frameworks = queries.frameworks_by_engagement(user, [engagement])[engagement.id]
    if request.method == "GET":
        return _edit_form(engagement, EngagementForm.of(engagement, current_frameworks))
    form = EngagementForm.from_request(request.form)
    form.contract_notice_hours = request.form.get("contract_notice_hours", "").strip()
    form.grace_days = request.form.get("grace_days", "").strip()
    try:
        engagement_service.update_engagement(user, engagement.id, form.changes(), ip=client_ip())
    except DomainError as exc:
        return _edit_form(engagement, form, exc, 422 if exc.status == 400 else exc.status)
    flash("The engagement is updated; its schedule follows (past requests and their evidence are kept).", "success")
    return redirect(url_for("pages.engagement", engagement_id=engagement.id))


def _edit_form(engagement, form: EngagementForm, error: DomainError | None = None, status: int = 200):
    return render_template("engagement_edit.html", engagement=engagement, form=form, error=error,
                           frameworks=list(queries.live_frameworks())), status


SOA_HEADERS = ("control", "title", "applicable", "justification", "frequency", "first_due_date")


@bp.route(f"/engagements/<int:engagement_id>/soa.{exports.FORMATS}")
def soa_export(engagement_id: int, fmt: str) -> Response:
    """The SoA; the Excel file has, on a second sheet, the service provider register as of ``?as_of`` (the
    period's end)."""
    user = current()
    row = scope.engagement_for(user, engagement_id)
    records = [(item.control.code, item.control.title, "yes" if item.applicable else "no", item.justification,
                item.frequency_override or item.control.frequency,
                item.first_due_date.isoformat() if item.first_due_date else "")
               for item in queries.redact_justifications(user, row, list(queries.soa_query(user, row,
                                                                                              _applicable_filter())))]
    stem = f"soa-engagement-{row.id}-{dt.date.today().isoformat()}"
    if fmt == "csv":
        return exports.csv_download(f"{stem}.csv", SOA_HEADERS, records)
    as_of = as_of_date(row)
    providers = register_records(row, provider_register.register_as_of(row, as_of))
    return exports.xlsx_sheets_download(f"{stem}.xlsx", [
        ("Statement of Applicability", SOA_HEADERS, records),
        (f"Register {as_of.isoformat()}", REGISTER_HEADERS, providers)])
