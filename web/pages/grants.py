"""Admin pages of an engagement's audit rights: its auditor grants (grant, revoke) and the auditor access log."""
from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from flask import Response, current_app, flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from services import scope
from services.audit import access_log
from services.auditors import grants
from web import exports
from web.auth import client_ip
from web.pages import PER_PAGE, bp, current, page_number


def _as_instant(value: str, tz: str) -> str:
    """A ``datetime-local`` field (the engagement's local time) as ISO 8601 with its offset."""
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(tz)).isoformat()
    except (TypeError, ValueError):
        return value


def _grants_page(engagement, error: DomainError | None = None, form: dict | None = None, status: int = 200):
    user = current()
    return render_template("grants/index.html", engagement=engagement, grants=grants.grants_of(user, engagement),
                           frameworks=grants.engagement_framework_codes(engagement), state_of=grants.grant_state,
                           json=json, error=error, form=form or {}), status


@bp.route("/engagements/<int:engagement_id>/grants", methods=["GET", "POST"])
def engagement_grants(engagement_id: int):
    engagement = scope.engagement_for(current(), engagement_id, "manage")
    if request.method == "GET":
        return _grants_page(engagement)
    form = {"auditor_email": request.form.get("auditor_email", ""), "audit_firm": request.form.get("audit_firm", ""),
            "frameworks": request.form.getlist("frameworks"),
            "starts_at": request.form.get("starts_at", ""), "expires_at": request.form.get("expires_at", "")}
    data = {**form, "starts_at": _as_instant(form["starts_at"], engagement.timezone),
            "expires_at": _as_instant(form["expires_at"], engagement.timezone)}
    try:
        grant = grants.create_grant(current(), engagement.id, data, base_url=current_app.config.get("BASE_URL"),
                                    ip=client_ip())
    except DomainError as exc:
        return _grants_page(engagement, exc, form, 422)
    invited = " (invited by e-mail to set a password)" if not grant.auditor.password_hash else ""
    flash(f"{grant.auditor.email}{invited} may now read {', '.join(json.loads(grant.frameworks))} of this "
          "engagement.", "success")
    return redirect(url_for("pages.engagement_grants", engagement_id=engagement.id))


@bp.route("/auditor-grants/<int:grant_id>/revoke", methods=["POST"])
def revoke_grant(grant_id: int):
    try:
        grant = grants.revoke_grant(current(), grant_id, ip=client_ip())
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
        grant = scope.grant_for(current(), grant_id)
    else:
        flash(f"Access of {grant.auditor.email} revoked.", "success")
    return redirect(url_for("pages.engagement_grants", engagement_id=grant.engagement_id))


@bp.route("/engagements/<int:engagement_id>/auditor-access")
def auditor_access(engagement_id: int) -> str:
    user = current()
    engagement = scope.engagement_for(user, engagement_id, "access_log")
    query = access_log.access_log(user, engagement)
    page, total = page_number(), query.count()
    rows = access_log.access_log_rows(list(query.paginate(page, PER_PAGE)), engagement.timezone)
    return render_template("grants/access_log.html", engagement=engagement, rows=rows, page=page, total=total,
                           pages=max(1, -(-total // PER_PAGE)))


@bp.route("/engagements/<int:engagement_id>/auditor-access.csv")
def auditor_access_csv(engagement_id: int) -> Response:
    user = current()
    engagement = scope.engagement_for(user, engagement_id, "access_log")
    rows = access_log.access_log_rows(list(access_log.access_log(user, engagement)), engagement.timezone)
    return exports.csv_download(f"auditor-access-engagement-{engagement.id}-{dt.date.today().isoformat()}.csv",
                                access_log.ACCESS_LOG_HEADERS, rows)
