"""Incidents: list per engagement (with the clock settings), the new-incident form, the incident page with
its live clocks, and the notice, assessment, later-fact, correction and not-required forms. Times typed into
forms are the engagement's local time; the API insists on explicit offsets."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from models import Engagement
from models.incidents import INCIDENT_CATEGORIES
from services import scope
from services.incidents import facts as fact_service
from services.incidents import incidents as incident_service
from services.incidents import voiding as incident_voiding
from services.incidents.clocks import acquirers_of
from services.incidents.incidents import SWITCH_SETTINGS
from web.auth import client_ip
from web.pages import bp, current

FLAG_LABELS = {"material": "Material", "personal_information": "Personal information involved",
               "card_data": "Card data involved", "outside_tolerance": "Critical operation outside tolerance",
               "cannot_remediate_timely": "Cannot be remediated in a timely manner",
               "notified_other_regulator": "Notified to another regulator (e.g. the OAIC)",
               "soci_significant": "Significant impact on a critical infrastructure asset's availability",
               "soci_relevant": "Relevant impact on a critical infrastructure asset",
               "ransom_paid": "A ransomware payment was made"}


def local_iso(value: str | None, tz: str) -> str | None:
    """An ISO UTC instant ('...Z') as ISO local time in ``tz``."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ZoneInfo(tz)).isoformat()


def local_when(value: str) -> str:
    """An ISO local time as people read it: Tue 06 Oct 2026 10:00 (+11:00)."""
    moment = dt.datetime.fromisoformat(value)
    offset = moment.strftime("%z")
    return moment.strftime("%a %d %b %Y %H:%M") + (f" ({offset[:3]}:{offset[3:]})" if offset else "")


@bp.record_once
def _globals(state) -> None:
    state.app.jinja_env.globals.update(notice_warning=incident_service.notice_warning, FLAG_LABELS=FLAG_LABELS,
                                      INCIDENT_CATEGORIES=INCIDENT_CATEGORIES, local_iso=local_iso)
    state.app.jinja_env.filters["local_when"] = local_when


def local_input(value: str, tz: str) -> str:
    """A form's ``YYYY-MM-DDTHH:MM`` in the engagement's timezone as ISO 8601 with its offset; text that
    already carries an offset, or is not a date-time, is passed on for the service to judge."""
    value = (value or "").strip()
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        return value
    return parsed.replace(tzinfo=ZoneInfo(tz)).isoformat()


def _incident_form(form, tz: str) -> dict:
    data = {"title": form.get("title", ""), "description": form.get("description", ""),
            "category": form.get("category") or None, "aware_party": form.get("aware_party") or None,
            "occurred_at": local_input(form.get("occurred_at", ""), tz),
            "aware_at": local_input(form.get("aware_at", ""), tz),
            "flags": [f for f in form.getlist("flags") if f]}
    if form.get("outside_tolerance_at"):
        data["outside_tolerance_at"] = local_input(form["outside_tolerance_at"], tz)
    return data


@bp.route("/engagements/<int:engagement_id>/incidents")
def incidents(engagement_id: int) -> str:
    user = current()
    engagement = scope.engagement_for(user, engagement_id)
    rows = list(incident_service.incidents_of(engagement))
    return render_template("incidents/list.html", engagement=engagement, rows=rows,
                           clocks=incident_service.clocks_by_incident(user, engagement, [i.id for i in rows]),
                           can_record=scope.permits(user, "record_incident"),
                           can_manage=scope.permits(user, "manage"), acquirers=acquirers_of(engagement))


@bp.route("/engagements/<int:engagement_id>/incidents/new", methods=["GET", "POST"])
def new_incident(engagement_id: int):
    user = current()
    engagement = scope.engagement_for(user, engagement_id, "record_incident")
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        try:
            incident = incident_service.create_incident(user, engagement, _incident_form(request.form,
                                                                                          engagement.timezone),
                                                        ip=client_ip())
        except DomainError as exc:
            return render_template("incidents/new.html", engagement=engagement, form=form, error=exc,
                                   side=user.side), 422
        flash(f"Incident “{incident.title}” recorded; its clocks are running.", "success")
        return redirect(url_for("pages.incident", incident_id=incident.id))
    return render_template("incidents/new.html", engagement=engagement, form=form, error=None, side=user.side)


def _incident_page(incident, error: DomainError | None = None, status: int = 200, failed: str = ""):
    user = current()
    engagement = Engagement.get_by_id(incident.engagement_id)
    data = incident_service.incident_json(incident, engagement, user)
    return render_template("incidents/show.html", engagement=engagement, incident=incident, data=data, error=error,
                           failed=failed, can_notify=scope.permits(user, "notify") and incident.voided_at is None,
                           can_record=scope.permits(user, "record_incident") and incident.voided_at is None,
                           can_void=incident_voiding.may_void(user) and incident.voided_at is None,
                           ndb_visible=incident_service.ndb_visible(user, engagement)), status


@bp.route("/incidents/<int:incident_id>")
def incident(incident_id: int):
    return _incident_page(incident_service.incident_for(current(), incident_id))


@bp.route("/incidents/<int:incident_id>/clocks/<rule>/notice", methods=["POST"])
def incident_notice(incident_id: int, rule: str):
    user = current()
    row = incident_service.incident_for(user, incident_id, "record_incident")
    engagement = Engagement.get_by_id(row.engagement_id)
    data = {"notified_at": local_input(request.form.get("notified_at", ""), engagement.timezone),
            "acquirer": request.form.get("acquirer", "")}
    if request.form.get("evidence_id", "").strip():
        raw = request.form["evidence_id"].strip()
        data["evidence_id"] = int(raw) if raw.isdigit() else raw
    try:
        incident_service.record_notice(user, row, rule, data, ip=client_ip())
    except DomainError as exc:
        return _incident_page(row, exc, exc.status if exc.status != 404 else 422, failed=rule)
    flash(f"Notice recorded for {rule}.", "success")
    return redirect(url_for("pages.incident", incident_id=incident_id))


def _facts_form(form, tz: str) -> dict:
    """The later-facts form: flags to add with when they were established, or one flag to correct."""
    if form.get("correct"):
        return {"flags": {form["correct"]: False}, "reason": form.get("reason", "")}
    data: dict = {"flags": [f for f in form.getlist("flags") if f]}
    for name in ("established_at", "outside_tolerance_at"):
        if form.get(name, "").strip():
            data[name] = local_input(form[name], tz)
    return data


@bp.route("/incidents/<int:incident_id>/facts", methods=["POST"])
def incident_facts(incident_id: int):
    user = current()
    row = incident_service.incident_for(user, incident_id, "record_incident")
    engagement = Engagement.get_by_id(row.engagement_id)
    try:
        fact_service.update_incident(user, row, _facts_form(request.form, engagement.timezone), ip=client_ip())
    except DomainError as exc:
        return _incident_page(row, exc, exc.status if exc.status != 404 else 422, failed="facts")
    flash("Incident updated; the clocks it calls for are running." if not request.form.get("correct")
          else "Flag corrected; the clocks it alone started are kept as not required.", "success")
    return redirect(url_for("pages.incident", incident_id=incident_id))


@bp.route("/incidents/<int:incident_id>/void", methods=["POST"])
def incident_void(incident_id: int):
    user = current()
    row = incident_service.incident_for(user, incident_id)
    try:
        incident_voiding.void_incident(user, incident_id, {"reason": request.form.get("reason", "")},
                                       ip=client_ip())
    except DomainError as exc:
        return _incident_page(row, exc, exc.status if exc.status != 404 else 422, failed="void")
    flash("Incident voided: its waiting and running clocks are closed as not required.", "success")
    return redirect(url_for("pages.incident", incident_id=incident_id))


@bp.route("/incidents/<int:incident_id>/clocks/<rule>/not-required", methods=["POST"])
def incident_not_required(incident_id: int, rule: str):
    user = current()
    row = incident_service.incident_for(user, incident_id, "record_incident")
    try:
        fact_service.mark_not_required(user, row, rule, {k: request.form.get(k, "") for k in ("reason", "acquirer")},
                                       ip=client_ip())
    except DomainError as exc:
        return _incident_page(row, exc, exc.status if exc.status != 404 else 422, failed=rule)
    flash(f"{rule} closed as not required.", "success")
    return redirect(url_for("pages.incident", incident_id=incident_id))


@bp.route("/incidents/<int:incident_id>/assessment", methods=["POST"])
def incident_assessment(incident_id: int):
    user = current()
    row = incident_service.incident_for(user, incident_id, "record_incident")
    engagement = Engagement.get_by_id(row.engagement_id)
    eligible = {"yes": True, "no": False}.get(request.form.get("eligible", ""))
    data = {"concluded_at": local_input(request.form.get("concluded_at", ""), engagement.timezone),
            "eligible": eligible, "summary": request.form.get("summary", "")}
    try:
        incident_service.record_assessment(user, row, data, ip=client_ip())
    except DomainError as exc:
        return _incident_page(row, exc, exc.status, failed="assessment")
    flash("NDB assessment recorded.", "success")
    return redirect(url_for("pages.incident", incident_id=incident_id))


def _acquirer_line(line: str) -> dict:
    """``name: hours`` as the API's {name, hours}; a line without hours keeps none (and is refused)."""
    name, _colon, hours = line.rpartition(":") if ":" in line else (line, "", "")
    hours = hours.strip()
    return {"name": name.strip(), "hours": int(hours) if hours.isdigit() else (hours or None)}


@bp.route("/engagements/<int:engagement_id>/clock-settings", methods=["POST"])
def clock_settings(engagement_id: int):
    user = current()
    engagement = scope.engagement_for(user, engagement_id, "manage")
    data: dict = {k: request.form.get(k, "") for k in ("contract_notice_hours", "pci_acquirer_hours",
                                                       "pci_brand_target_hours")}
    for switch in SWITCH_SETTINGS:
        data[switch] = request.form.get(switch, "")
    data["acquirers"] = [_acquirer_line(line) for line in request.form.get("acquirers", "").splitlines()
                         if line.strip()]
    try:
        incident_service.update_clock_settings(user, engagement, data, ip=client_ip())
        flash("Clock settings saved. Running clocks keep their deadlines.", "success")
    except DomainError as exc:
        flash(f"Clock settings not saved: {exc.message}", "error")
    return redirect(url_for("pages.incidents", engagement_id=engagement_id))
