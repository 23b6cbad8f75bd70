"""The auditor portal: its own landing page (grants with frameworks and expiry), read-only views of an
engagement (obligation -> control -> evidence, incidents and clocks, findings), the evidence viewer and
observations. Every read here is logged by web.access_log."""
from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from domain.errors import DomainError
from models import utcnow
from services import scope
from services.auditors import grants, portal
from services.evidence.evidence import INLINE_TYPES
from services.evidence.files import attach_files
from web.auth import client_ip
from web.pages import bp, current


@bp.record_once
def _current_user_global(state) -> None:
    """Macros imported without context (engagement_tabs) show role-dependent tabs: they need current_user."""
    state.app.jinja_env.globals["current_user"] = current_user


@bp.app_template_filter("fromjson")
def from_json(text: str):
    return json.loads(text)


@bp.route("/portal")
def portal_home() -> str:
    user = current()
    return render_template("portal/home.html", grants=grants.active_grants_of(user) if user.role == "auditor" else [],
                           now=utcnow(), days_left=portal.days_left)


def _grant_of(user, engagement):
    return next((g for g in grants.active_grants_of(user) if g.engagement_id == engagement.id), None)


@bp.route("/portal/engagements/<int:engagement_id>")
def portal_engagement(engagement_id: int) -> str:
    user = current()
    engagement = scope.engagement_for(user, engagement_id)
    return render_template("portal/engagement.html", engagement=engagement, grant=_grant_of(user, engagement),
                           frameworks=portal.readable_frameworks(user, engagement),
                           incidents=portal.incidents_with_clocks(user, engagement),
                           findings=portal.findings(user, engagement), now=utcnow(), days_left=portal.days_left,
                           may_observe=scope.permits(user, "observe"), error=None)


@bp.route("/portal/engagements/<int:engagement_id>/obligations")
def portal_obligations(engagement_id: int) -> str:
    user = current()
    engagement = scope.engagement_for(user, engagement_id)
    return render_template("portal/obligations.html", engagement=engagement,
                           tree=portal.obligation_tree(user, engagement),
                           controls=portal.controls_by_code(user, engagement),
                           evidence=portal.evidence_by_control(user, engagement))


@bp.route("/portal/engagements/<int:engagement_id>/observations", methods=["POST"])
def portal_observation(engagement_id: int):
    try:
        portal.leave_observation(current(), engagement_id, request.form.to_dict(), ip=client_ip())
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(f"The observation was not recorded: {exc.message}", "error")
    else:
        flash("Observation recorded: the client sees it as a finding.", "success")
    return redirect(url_for("pages.portal_engagement", engagement_id=engagement_id))


@bp.route("/portal/evidence/<int:evidence_id>")
def portal_evidence(evidence_id: int) -> str:
    """One accepted item with its review, and the file itself in the page: PDF and images through the evidence
    API's sandboxed inline variant, text shown as text (its download recorded), anything else to download."""
    user = current()
    item = attach_files([scope.evidence_for(user, evidence_id)])[0]
    return render_template("portal/evidence.html", item=item, engagement=item.request.engagement,
                           inline=item.media_type in INLINE_TYPES,
                           text=portal.text_preview(user, item.id, ip=client_ip()))
