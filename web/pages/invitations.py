"""Engagement invitations: a provider admin accepts or declines the engagements its organisation is invited to;
the client's people see where their invitations stand."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from models import EngagementInvitation
from services import scope
from services.register import invitations
from web.auth import client_ip
from web.pages import bp, current


@bp.route("/engagement-invitations")
def engagement_invitations_page() -> str:
    rows = list(scope.invitations_for(current()).order_by(EngagementInvitation.id.desc()).limit(200))
    return render_template("invitations.html", rows=rows)


@bp.route("/engagement-invitations/<int:invitation_id>/decision", methods=["POST"])
def decide_engagement_invitation(invitation_id: int):
    data = {"decision": request.form.get("decision"), "reason": request.form.get("reason", "")}
    try:
        row = invitations.decide(current(), invitation_id, data, ip=client_ip())
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
        return redirect(url_for("pages.engagement_invitations_page"))
    flash(f"You {row.state} the engagement “{row.engagement.name}”.", "success")
    if row.state == "accepted":
        return redirect(url_for("pages.engagement", engagement_id=row.engagement_id))
    return redirect(url_for("pages.engagement_invitations_page"))
