"""Change events of an engagement: the list with the requests each opened, and the form to record one."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from models.incidents import CHANGE_KINDS
from services import scope
from services.incidents import changes as change_service
from web.auth import client_ip
from web.pages import bp, current
from web.pages.incidents import local_input


@bp.route("/engagements/<int:engagement_id>/changes", methods=["GET", "POST"])
def changes(engagement_id: int):
    user = current()
    engagement = scope.engagement_for(user, engagement_id)
    error, form, code = None, {}, 200
    if request.method == "POST":
        scope.engagement_for(user, engagement_id, "record_change")
        form = request.form
        data = {"title": form.get("title", ""), "kind": form.get("kind") or None,
                "occurred_at": local_input(form.get("occurred_at", ""), engagement.timezone),
                "description": form.get("description", "")}
        try:
            _change, ids = change_service.create_change(user, engagement, data, ip=client_ip())
            flash(f"Change recorded: {len(ids)} evidence request(s) opened.", "success")
            return redirect(url_for("pages.changes", engagement_id=engagement_id))
        except DomainError as exc:
            error, code = exc, 422
    rows = list(change_service.changes_of(engagement).limit(100))
    return render_template("changes.html", engagement=engagement, rows=rows, kinds=CHANGE_KINDS, error=error,
                           form=form, opened=change_service.opened_requests([c.id for c in rows],
                                                                      scope.requests_for(user, engagement)),
                           can_record=scope.permits(user, "record_change")), code


@bp.route("/changes/<int:change_id>/void", methods=["POST"])
def void_change(change_id: int):
    user = current()
    change = scope.change_for(user, change_id)
    try:
        _change, retired = change_service.void_change(user, change_id, {"reason": request.form.get("reason", "")},
                                                      ip=client_ip())
        flash(f"Change event voided: {len(retired)} evidence request(s) retired.", "success")
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(f"The change event was not voided: {exc.message}", "error")
    return redirect(url_for("pages.changes", engagement_id=change.engagement_id))
