"""The in-app inbox: the bell's unread count (every page), the notifications page, read marks and the
delivery choice (immediate e-mail or a daily digest)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from domain.errors import DomainError
from services.messages import notifications as notification_service
from web.pages import PER_PAGE, bp, current, page_number


@bp.record_once
def _bell(state) -> None:
    def unread_notifications() -> int:
        if not current_user.is_authenticated:
            return 0
        return notification_service.unread_count(current_user._get_current_object())
    state.app.jinja_env.globals["unread_notifications"] = unread_notifications


@bp.route("/notifications")
def notifications() -> str:
    user = current()
    unread_only = request.args.get("unread") == "1"
    query = notification_service.for_user(user, unread_only=unread_only)
    page, total = page_number(), query.count()
    return render_template("notifications.html", rows=list(query.paginate(page, PER_PAGE)), page=page, total=total,
                           pages=max(1, -(-total // PER_PAGE)), unread_only=unread_only,
                           mode=notification_service.mode_of(user))


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
def read_notification(notification_id: int):
    row = notification_service.mark_read(current(), notification_id)
    target = request.form.get("next")
    if target == "link" and row.link.startswith("/"):
        return redirect(row.link)
    return redirect(url_for("pages.notifications"))


@bp.route("/notifications/read-all", methods=["POST"])
def read_all_notifications():
    count = notification_service.mark_all_read(current())
    flash(f"{count} notification(s) marked read.", "success")
    return redirect(url_for("pages.notifications"))


@bp.route("/notifications/settings", methods=["POST"])
def notification_settings():
    try:
        mode = notification_service.set_mode(current(), request.form.get("mode", ""))
        flash("E-mail: " + ("one message per notification." if mode == "immediate" else "one digest a day."),
              "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("pages.notifications"))
