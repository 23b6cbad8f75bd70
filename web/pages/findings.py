"""Findings: a page per engagement (with the raise form), one across engagements, and each finding's page
with what its reader may do next (plan, accept or return it, close with evidence)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from domain.findings import TRANSITIONS
from models import Engagement, Evidence, Finding
from models.incidents import FINDING_SEVERITIES, FINDING_STATES
from services import scope
from services.incidents import findings as finding_service
from web.auth import client_ip
from web.pages import PER_PAGE, bp, current, page_number


def _status_filter(query):
    status = request.args.get("status", "")
    return (query.where(Finding.status == status) if status in FINDING_STATES else query), status


@bp.route("/findings")
def findings() -> str:
    query, status = _status_filter(finding_service.findings_for(current()))
    page, total = page_number(), query.count()
    return render_template("findings/list.html", rows=list(query.paginate(page, PER_PAGE)), engagement=None,
                           status=status, page=page, pages=max(1, -(-total // PER_PAGE)), total=total,
                           states=FINDING_STATES, severities=FINDING_SEVERITIES, can_raise=False, error=None, form={})


@bp.route("/engagements/<int:engagement_id>/findings", methods=["GET", "POST"])
def engagement_findings(engagement_id: int):
    user = current()
    engagement = scope.engagement_for(user, engagement_id)
    error, form, code = None, {}, 200
    if request.method == "POST":
        scope.engagement_for(user, engagement_id, "raise_finding")
        form = request.form
        try:
            finding = finding_service.create_from_input(user, engagement, {k: form.get(k, "") for k in (
                "title", "severity", "owner", "due_date", "description")}, ip=client_ip())
            flash(f"Finding “{finding.title}” raised.", "success")
            return redirect(url_for("pages.finding", finding_id=finding.id))
        except DomainError as exc:
            error, code = exc, 422
    query, status = _status_filter(finding_service.findings_for(user, engagement))
    page, total = page_number(), query.count()
    return render_template("findings/list.html", rows=list(query.paginate(page, PER_PAGE)), engagement=engagement,
                           status=status, page=page, pages=max(1, -(-total // PER_PAGE)), total=total,
                           states=FINDING_STATES, severities=FINDING_SEVERITIES, error=error, form=form,
                           can_raise=scope.permits(user, "raise_finding")), code


def _finding_page(finding: Finding, error: DomainError | None = None, status: int = 200):
    user = current()
    side = "provider" if scope.permits(user, "answer_finding") else "client"
    moves = [new for (old, new), who in TRANSITIONS.items() if old == finding.status and who == side
             and (side == "provider" or scope.permits(user, "review"))]
    can_void = "void" in moves  # offered apart from the next step: it is not one
    moves = [m for m in moves if m != "void"]
    engagement = Engagement.get_by_id(finding.engagement_id)
    candidates = finding_service.closure_candidates(finding) if "closed" in moves else []
    closure = Evidence.get_or_none(Evidence.id == finding.closure_evidence_id) if finding.closure_evidence_id else None
    return render_template("findings/show.html", finding=finding, engagement=engagement, moves=moves,
                           side=side, can_void=can_void, error=error, severities=FINDING_SEVERITIES,
                           candidates=candidates,
                           closure=closure, timeline=finding_service.timeline(finding)), status


@bp.route("/findings/<int:finding_id>", methods=["GET", "POST"])
def finding(finding_id: int):
    user = current()
    row = finding_service.finding_for(user, finding_id)
    if request.method == "GET":
        return _finding_page(row)
    data = {k: request.form[k] for k in ("status", "action_plan", "closure_note", "reason") if request.form.get(k)}
    if request.form.get("closure_evidence_id", "").strip():
        raw = request.form["closure_evidence_id"].strip()
        data["closure_evidence_id"] = int(raw) if raw.isdigit() else raw
    try:
        finding_service.update_from_input(user, row, data, ip=client_ip())
    except DomainError as exc:
        return _finding_page(row, exc, 422 if exc.status == 404 else exc.status)
    flash("Finding updated.", "success")
    return redirect(url_for("pages.finding", finding_id=finding_id))
