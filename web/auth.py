"""Sign-in and sign-out (browser sessions); who is calling (session or API token)."""
from __future__ import annotations

from flask import Blueprint, Flask, flash, g, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_user, logout_user

from domain.errors import Unauthorised
from models import User
from services import accounts, audit_log

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"


def init_app(app: Flask) -> None:
    login_manager.init_app(app)


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        user = User.get_or_none(User.id == int(user_id))
    except (TypeError, ValueError):
        return None
    return user if user and user.active else None


def client_ip() -> str:
    return (request.remote_addr or "")[:64]


def api_user() -> User:
    """The caller of an API request: a Bearer token if one is sent (and then only it), else the session."""
    if "api_user" in g:
        return g.api_user
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        user = accounts.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise Unauthorised("unknown, revoked or malformed API token")
        g.api_user, g.auth_by_token = user, True
        return user
    if current_user.is_authenticated:
        g.api_user, g.auth_by_token = current_user._get_current_object(), False
        return g.api_user
    raise Unauthorised("sign in, or send Authorization: Bearer <token>")


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "").strip().lower()
    user = accounts.authenticate(email, request.form.get("password", ""), client_ip())
    if user is None:
        audit_log.record("auth.login_failed", actor_email=email[:254], ip=client_ip(),
                         object_type="user", details={"locked_out": accounts.is_locked_out(email)})
        message = ("Too many failed sign-ins: try again in 15 minutes."
                   if accounts.is_locked_out(email) else "E-mail or password is not right.")
        flash(message, "error")
        return render_template("login.html", next=request.form.get("next", ""), email=email), 401
    login_user(user)
    audit_log.record("auth.login", actor=user, object_type="user", object_id=user.id, ip=client_ip())
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        audit_log.record("auth.logout", actor=current_user._get_current_object(), object_type="user",
                         object_id=current_user.id, ip=client_ip())
    logout_user()
    return redirect(url_for("auth.login"))
