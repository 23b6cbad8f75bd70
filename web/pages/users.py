"""Users of the admin's organisation (list, invite, role, deactivate, reactivate) and the signed-in user's own account
(password change)."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from domain.errors import DomainError, NotFound
from models import User
from services import scope
from services.people import users
from web.auth import client_ip, start_session
from web.pages import bp, current


def _users_page(error: DomainError | None = None, form: dict | None = None, status: int = 200):
    admin = scope.require_user_admin(current())
    rows = list(scope.users_for(admin).order_by(User.email))
    return render_template("users/list.html", rows=rows, roles=scope.MANAGED_ROLES[admin.role], error=error,
                           form=form or {}, status_of=users.status_of), status


@bp.route("/users")
def users_list():
    return _users_page()


@bp.route("/users", methods=["POST"])
def users_invite():
    form = {k: request.form.get(k, "") for k in ("email", "role", "full_name")}
    try:
        invited = users.invite(current(), form, base_url=current_app.config.get("BASE_URL"), ip=client_ip())
    except DomainError as exc:
        return _users_page(exc, form, exc.status)
    flash(f"Invitation sent to {invited.user.email}: the link works once, for 72 hours.", "success")
    return redirect(url_for("pages.users_list"))


def _act(user_id: int, action, message: str):
    """Runs ``action`` and returns to the list with its outcome; a user not found (another organisation's or
    none) is the 404 page, like every other id outside the caller's scope."""
    try:
        user = action()
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("pages.users_list"))
    flash(message.format(email=user.email), "success")
    return redirect(url_for("pages.users_list"))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
def users_deactivate(user_id: int):
    return _act(user_id, lambda: users.deactivate(current(), user_id, ip=client_ip()),
                "{email} is deactivated: its sessions and API tokens stopped working.")


@bp.route("/users/<int:user_id>/reactivate", methods=["POST"])
def users_reactivate(user_id: int):
    return _act(user_id, lambda: users.reactivate(current(), user_id, base_url=current_app.config.get("BASE_URL"),
                                                  ip=client_ip()),
                "{email} is reactivated; its earlier sessions and API tokens stay ended.")


@bp.route("/users/<int:user_id>/role", methods=["POST"])
def users_role(user_id: int):
    return _act(user_id, lambda: users.change_role(current(), user_id, request.form.get("role"), ip=client_ip()),
                "{email}'s role is changed.")


@bp.route("/users/<int:user_id>/resend", methods=["POST"])
def users_resend(user_id: int):
    return _act(user_id, lambda: users.resend_invitation(current(), user_id,
                                                         base_url=current_app.config.get("BASE_URL"),
                                                         ip=client_ip()).user,
                "A new invitation is on its way to {email}; earlier links no longer work.")


@bp.route("/account")
def account(error: DomainError | None = None, status: int = 200):
    return render_template("users/account.html", error=error), status


@bp.route("/account/password", methods=["POST"])
def account_password():
    new = request.form.get("new_password", "")
    try:
        if new != request.form.get("new_password_again", ""):
            raise DomainError("the two new passwords differ", field="new_password_again")
        user = users.change_password(current(), request.form.get("old_password", ""), new, ip=client_ip())
    except DomainError as exc:
        return account(exc, 422 if exc.status == 400 else exc.status)
    start_session(user)  # this session goes on under the new nonce; every other one has ended
    flash("Your password is changed; you were signed out everywhere else.", "success")
    return redirect(url_for("pages.account"))
