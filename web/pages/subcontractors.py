"""The service provider register: per engagement (propose, decide, APRA notice, APP 8 recipients) and
across engagements, each with an Excel export."""
from __future__ import annotations

import datetime as dt

from flask import Response, flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from domain.subcontractors import country_name
from models import Engagement
from services import scope
from services.evidence.evidence import local_today
from services.register import queries
from services.register import subcontractors as register
from web import exports
from web.auth import client_ip
from web.pages import bp, current

REGISTER_HEADERS = ("engagement", "tier", "name", "services", "critical operations", "countries", "offshore",
                    "data categories", "material", "status", "agreement date", "APRA notified", "decision reason")


def _form_data() -> dict:
    data = {k: v for k, v in request.form.items() if k != "csrf_token"}
    for key in ("material", "personal_information"):
        data[key] = request.form.get(key) == "1"
    return data


def _page(engagement_id: int, error: DomainError | None = None, form: dict | None = None, status: int = 200):
    user = current()
    engagement = scope.engagement_for(user, engagement_id)
    rows = list(register.subcontractors_of(engagement))
    recipients = queries.cross_border_recipients(engagement)
    return render_template(
        "subcontractors/engagement.html", engagement=engagement, rows=rows, error=error, form=form or {},
        clocks=register.clocks_by_subcontractor(user, [s.id for s in rows]), loads=register.loads,
        country_name=country_name, recipients=recipients,
        series=register.recipient_requests(engagement, [s.id for s in recipients]),
        can_propose=scope.permits(user, "propose_subcontractor"),
        can_decide=scope.permits(user, "decide_subcontractor"), can_notify=scope.permits(user, "notify"),
        is_offshore=lambda s: register.rules.is_offshore(register.loads(s.countries))), status


@bp.route("/engagements/<int:engagement_id>/subcontractors")
def engagement_subcontractors(engagement_id: int):
    return _page(engagement_id)


def _write(engagement_id: int, action, message: str):
    try:
        action()
    except DomainError as exc:
        return _page(engagement_id, exc, _form_data(), 422)
    flash(message, "success")
    return redirect(url_for("pages.engagement_subcontractors", engagement_id=engagement_id))


@bp.route("/engagements/<int:engagement_id>/subcontractors", methods=["POST"])
def propose_subcontractor(engagement_id: int):
    scope.engagement_for(current(), engagement_id)
    return _write(engagement_id, lambda: register.propose(current(), engagement_id, _form_data(), ip=client_ip()),
                  "Sub-contractor proposed; the client has been asked to decide.")


@bp.route("/subcontractors/<int:subcontractor_id>/decision", methods=["POST"])
def decide_subcontractor(subcontractor_id: int):
    sub = scope.subcontractor_for(current(), subcontractor_id)
    return _write(sub.engagement_id,
                  lambda: register.decide_on(current(), sub.id, _form_data(), ip=client_ip()),
                  f"Decision on “{sub.name}” recorded.")


@bp.route("/subcontractors/<int:subcontractor_id>/apra-notice", methods=["POST"])
def apra_notice(subcontractor_id: int):
    sub = scope.subcontractor_for(current(), subcontractor_id)
    return _write(sub.engagement_id,
                  lambda: register.record_apra_notice(current(), sub.id, _form_data(), ip=client_ip()),
                  f"APRA notice for “{sub.name}” recorded.")


@bp.route("/subcontractors")
def subcontractors() -> str:
    rows = list(register.register_across(current()))
    return render_template("subcontractors/index.html", rows=rows, loads=register.loads,
                           is_offshore=lambda s: register.rules.is_offshore(register.loads(s.countries)))


def register_records(engagement, entries) -> list[tuple]:
    """Register entries (``services.register.subcontractors.RegisterEntry``) as export rows."""
    return [(engagement.name, e.tier, e.name, "; ".join(e.services), "; ".join(e.critical_operations),
             " ".join(e.countries), "yes" if e.offshore else "no", "; ".join(e.data_categories),
             "yes" if e.material else "no", e.status, e.agreement_date.isoformat() if e.agreement_date else "",
             e.apra_notified_on.isoformat() if e.apra_notified_on else "", e.decision_reason) for e in entries]


def requested_as_of() -> dt.date | None:
    """``?as_of=YYYY-MM-DD``, None when absent; DomainError (400) for anything else."""
    text = request.args.get("as_of", "")
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DomainError("as_of must be a date (YYYY-MM-DD)", field="as_of") from None


def as_of_date(engagement: Engagement) -> dt.date:
    """The day asked for, by default the engagement's today: its register is kept in local dates, and
    Sydney's day starts ten or eleven hours before UTC's."""
    return requested_as_of() or local_today(engagement)


@bp.route("/engagements/<int:engagement_id>/subcontractors.xlsx")
def engagement_subcontractors_xlsx(engagement_id: int) -> Response:
    engagement = scope.engagement_for(current(), engagement_id)
    day = as_of_date(engagement)
    records = register_records(engagement, register.register_as_of(engagement, day))
    return exports.xlsx_download(f"register-engagement-{engagement.id}-{day.isoformat()}.xlsx",
                                 "Service provider register", REGISTER_HEADERS, records)


@bp.route("/subcontractors.xlsx")
def subcontractors_xlsx() -> Response:
    given = requested_as_of()
    records = []
    for engagement in scope.engagements_for(current()).order_by(scope.Engagement.name):
        records += register_records(engagement, register.register_as_of(engagement, given or local_today(engagement)))
    return exports.xlsx_download(f"service-provider-register-{(given or dt.date.today()).isoformat()}.xlsx",
                                 "Service provider register", REGISTER_HEADERS, records)
