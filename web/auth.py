"""Sign-in and sign-out (browser sessions); who is calling (session or API token); setting a password from
an invitation link.

Sessions (signed cookies) are bound three ways, all checked in ``_load_user``:

- to the user's current session nonce (User.get_id): signing out, a password change or deactivation
  gives the user a new one, which ends every session issued before;
- to an absolute lifetime from sign-in (``SESSION_ABSOLUTE_SECONDS``, 8 hours): the cookie's own expiry
  does not slide (``SESSION_REFRESH_EACH_REQUEST`` off) and the sign-in time inside it is checked;
- to the browser's User-Agent (a fingerprint kept in the session): Flask-Login's "strong" protection does
  nothing for permanent sessions, so it is done here; a copied cookie replayed from another client is refused.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_user, logout_user

from domain.errors import DomainError, Unauthorised
from models import User
from services.identity import sso
from services.people import accounts, users

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = None  # see the module docstring: the binding is done in _load_user


def init_app(app: Flask) -> None:
    login_manager.init_app(app)


def fingerprint() -> str:
    """What a session is bound to besides its user: the client's User-Agent (hashed)."""
    return hashlib.sha256(request.headers.get("User-Agent", "").encode("utf-8", "replace")).hexdigest()[:32]


def _session_is_bound_here() -> bool:
    issued = session.get("issued_at")
    lifetime = current_app.config.get("SESSION_ABSOLUTE_SECONDS", 8 * 3600)
    if not isinstance(issued, int) or not 0 <= time.time() - issued < lifetime:
        return False
    bound = session.get("fp")
    return isinstance(bound, str) and hmac.compare_digest(bound.encode(), fingerprint().encode())


def start_session(user: User) -> None:
    """A fresh session for ``user`` (nothing of the previous one is kept), bound to this client."""
    session.clear()
    session.permanent = True  # PERMANENT_SESSION_LIFETIME bounds the cookie; issued_at bounds the session
    login_user(user)
    session["issued_at"] = int(time.time())
    session["fp"] = fingerprint()


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """The user a session belongs to: its id is "<user id>:<session nonce>" (User.get_id), and the nonce
    must still be the user's. Signing out changes the nonce, which ends every session of that user.
    The session must also be within its absolute lifetime and come from the client it was issued to."""
    if has_request_context() and not _session_is_bound_here():
        return None
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
        return render_template("login.html", next=request.args.get("next", ""), email=request.args.get("email", ""))
    ip = client_ip()
    email = accounts.login_email(request.form.get("email", ""))
    password = request.form.get("password", "")
    if not password and (config := sso.route_for_email(email)) is not None:  # e-mail first: to the IdP
        target = url_for("sso.sso_login", slug=config.slug, login_hint=email, next=_safe_next(request.form.get("next")))
        return render_template("identity/redirect.html", target=target)
    if not password:  # the e-mail first, then the password: not a failed attempt
        flash("Enter your password.", "info")
        return render_template("login.html", next=request.form.get("next", ""), email=email, ask_password=True)
    result = sso.password_sign_in(email, password, ip)
    if result.user is None and sso.password_refused(email):
        flash("Your organisation signs you in through its identity provider: enter your e-mail only.", "error")
        return render_template("login.html", next=request.form.get("next", ""), email=email), 401
    if result.user is None:
        locked = result.locked_out or accounts.is_locked_out(email, ip)  # or this failure has just locked it
        message = "Too many failed sign-ins: try again in 15 minutes." if locked else "E-mail or password is not right."
        flash(message, "error")
        return render_template("login.html", next=request.form.get("next", ""), email=email), 401
    user = result.user
    if request.form.get("end_other_sessions") == "1":
        accounts.end_other_sessions(user, ip)
    start_session(user)
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        accounts.sign_out(user, client_ip())  # a copy of this session cookie, or any other session, stops working
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/invitations/<secret>", methods=["GET", "POST"])
def invitation(secret: str):
    """Set a password from an invitation link (the link is spent by the POST that sets it, not by opening it,
    so a mail scanner that follows links does not use it up)."""
    try:
        invited = users.invitation_for(secret)
    except DomainError as exc:
        return render_template("users/invitation.html", problem=exc.message), exc.status
    if request.method == "GET":
        return render_template("users/invitation.html", invited=invited.user)
    password = request.form.get("password", "")
    if password != request.form.get("password_again", ""):
        return render_template("users/invitation.html", invited=invited.user,
                               error=DomainError("the two passwords differ", field="password_again")), 422
    try:
        user = users.accept_invitation(secret, password, ip=client_ip())
    except DomainError as exc:
        return render_template("users/invitation.html", invited=invited.user, error=exc), exc.status
    flash("Your password is set. Sign in with it.", "success")
    return redirect(url_for("auth.login", email=user.email))
