"""CSRF on every form, security and cache headers on every response, NUL refused in input,
X-Forwarded-For believed only from trusted proxies, numeric ids in paths written in ASCII digits."""
from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from web.errors import error_response

csrf = CSRFProtect()

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def streams_upload() -> bool:
    """Is this request's view one that parses its own multipart body (``web.uploads.streamed_upload``)?
    Then nothing here may touch ``request.form``: that would make Werkzeug parse and spool the upload."""
    return bool(getattr(current_app.view_functions.get(request.endpoint or ""), "streams_upload", False))


def _has_nul(form: bool = True) -> bool:
    """A NUL anywhere in the query string or (``form``) the form (keys, values, file names)?

    PostgreSQL refuses text containing NUL, so one reaching a query would be a 500; nothing legitimate sends one.
    """
    if not form:
        return any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True))
    for multidict in (request.args, request.form):
        for key, value in multidict.items(multi=True):
            if "\x00" in key or "\x00" in value:
                return True
    return any("\x00" in key or "\x00" in (upload.filename or "") for key, upload in request.files.items(multi=True))


class AsciiIntegerConverter(IntegerConverter):
    """``<int:...>`` as ASCII digits within 64 bits. Werkzeug's ``\\d+`` also matches other scripts' digits,
    so ``/engagements/１`` and ``/engagements/٣`` named engagements 1 and 3 under another spelling."""

    regex = r"[0-9]+"

    def __init__(self, url_map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 (Werkzeug's names)
                 max: int | None = 2**63 - 1, signed: bool = False) -> None:  # noqa: A002
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = AsciiIntegerConverter  # before any blueprint adds its rules
    # TRUSTED_PROXIES=N (environment, see web/config.py): behind N reverse proxies, take the client address
    # from X-Forwarded-For, N entries from the right (the ones those proxies appended). Unset or 0: the
    # header is ignored and request.remote_addr stays the socket's peer, since a client can send any
    # X-Forwarded-For it likes (and would escape the per-address sign-in lock). Only the address is taken
    # from the proxies; X-Forwarded-Proto/Host/Port/Prefix are not.
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies >= 1:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=0, x_host=0, x_port=0, x_prefix=0)

    csrf.init_app(app)

    @app.before_request
    def _refuse_nul():
        if _has_nul(form=not streams_upload()):  # web.uploads refuses NUL in the body it parses itself
            return error_response(400, "bad_request", "The request contains a NUL character, which is not allowed.")
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if not request.path.startswith("/static/"):
            is_api = request.path.startswith("/api/")
            if is_api or current_user.is_authenticated:  # nothing of a user's is kept by browsers or proxies
                response.headers["Cache-Control"] = "no-store"
            if is_api:
                response.vary.update(("Authorization", "Cookie"))
        return response
