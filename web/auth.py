"""Sign-in and sign-out (browser sessions); who is calling (session or API token)."""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, g, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user

from domain.errors import Unauthorised
from models import User
from services import accounts

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"


def init_app(app: Flask) -> None:
    login_manager.init_app(app)


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """The user a session belongs to: its id is "<user id>:<session nonce>" (User.get_id), and the nonce
    must still be the user's. Signing out changes the nonce, which ends every session of that user."""
    user_id, _, nonce = (session_id or "").partition(":")
    if not (user_id.isascii() and user_id.isdigit() and int(user_id) < 2**31) or not nonce:
        return None
    user = User.get_or_none(User.id == int(user_id))
    if user is None or not user.active or not user.session_nonce:
        return None
    return user if hmac.compare_digest(nonce.encode(), user.session_nonce.encode()) else None


def client_ip() -> str:
    """The caller's address: the socket's peer, or, with TRUSTED_PROXIES=N set, the address the
    outermost trusted proxy saw (web.security applies ProxyFix, which sets remote_addr)."""
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
    r"""Where to go after signing in: a path on this site, or else the home page.

    Browsers drop tabs and newlines from URLs and read "\" as "/", so "/\t/evil.example" or "/\evil.example"
    would leave the site; anything with a control character or whitespace is refused outright, and what
    remains must be a plain path (no scheme, no host) starting with exactly one "/".
    """
    home = url_for("pages.home")
    if not target or any(ch.isspace() or not ch.isprintable() for ch in target):
        return home
    target = target.replace("\\", "/")
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. a malformed IPv6 host
        return home
    if (parts.scheme or parts.netloc or target.startswith("//") or not parts.path.startswith("/")
            or parts.path.startswith("//")):
        return home
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    ip = client_ip()
    email = accounts.login_email(request.form.get("email", ""))
    result = accounts.sign_in(email, request.form.get("password", ""), ip)
    if result.user is None:
        locked = result.locked_out or accounts.is_locked_out(email, ip)  # or this failure has just locked it
        message = "Too many failed sign-ins: try again in 15 minutes." if locked else "E-mail or password is not right."
        flash(message, "error")
        return render_template("login.html", next=request.form.get("next", ""), email=email), 401
    user = result.user
    session.permanent = True  # so PERMANENT_SESSION_LIFETIME (8 hours) bounds the session
    login_user(user)
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        accounts.sign_out(user, client_ip())  # a copy of this session cookie, or any other session, stops working
    logout_user()
    return redirect(url_for("auth.login"))
