"""One mapping from errors to responses: JSON ``{"error": {...}}`` under /api, a page elsewhere."""
from __future__ import annotations

import logging

import peewee as pw
from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from domain.errors import DomainError
from evidence_store import StoreError
from models import db
from web.json_input import body_limit_message

log = logging.getLogger("attest.errors")
RETRY_AFTER = "5"

HTTP_CODES = {400: "bad_request", 401: "unauthorised", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
              422: "invalid", 429: "too_many_requests", 500: "server_error", 503: "unavailable"}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, field: str | None = None, headers: dict | None = None,
                   items: list[dict] | None = None):
    headers = dict(headers or {})
    if wants_json():
        body = {"error": {"code": code, "message": message}}
        if field:
            body["error"]["field"] = field
        if items:
            body["error"]["items"] = items
        if status == 401:  # RFC 6750: say which scheme the API takes
            headers.setdefault("WWW-Authenticate", 'Bearer realm="attest"')
        return jsonify(body), status, headers
    return render_template("error.html", status=status, message=message), status, headers


def _api_words(exc: HTTPException) -> tuple[str, dict]:
    """Attest's own message for routing errors under /api (werkzeug's are written for web pages)."""
    if exc.code == 404:
        return f"no such API route: {request.method} {request.path}; see /api/v1/openapi.json", {}
    if exc.code == 405:
        allowed = sorted(m for m in (getattr(exc, "valid_methods", None) or []) if m not in ("HEAD", "OPTIONS"))
        return (f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed) or 'none'}",
                {"Allow": ", ".join(getattr(exc, "valid_methods", None) or [])})
    return exc.description or "", {}


def unavailable(code: str, message: str):
    """503 with Retry-After. The page is plain if the usual one cannot render (it may need the database)."""
    try:
        response = current_app.make_response(error_response(503, code, message))
    except Exception:  # noqa: BLE001 - the error page itself needs what is down
        response = Response(message, status=503, mimetype="text/plain")
    response.headers["Retry-After"] = RETRY_AFTER
    return response


def init_app(app: Flask) -> None:
    # Infrastructure down: the one place database and store outages become 503s. Services write in one
    # transaction, so a request failing here has changed nothing (the transaction rolled back; a file
    # already stored is content-addressed and unreferenced until its row commits).
    @app.errorhandler(pw.OperationalError)
    @app.errorhandler(pw.InterfaceError)
    def _database_down(exc: Exception):
        log.error("database unavailable: %s", str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
        _drop_connection()
        return unavailable("database_unavailable",
                           "The database is unavailable right now; nothing was changed. Try again shortly.")

    @app.errorhandler(StoreError)
    def _store_down(exc: StoreError):
        log.error("evidence store unavailable: %s", exc)
        return unavailable("store_unavailable",
                           "The evidence store is unavailable right now; nothing was recorded. Try again shortly.")

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        items = [{"id": item, "code": e.code, "message": e.message} for item, e in getattr(exc, "problems", [])]
        return error_response(exc.status, exc.code, exc.message, exc.field, items=items)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return error_response(400, "csrf", "The form was missing a valid CSRF token; reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        message, headers = exc.description, {}
        if status == 413:
            message = body_limit_message() or f"upload larger than the {app.config['MAX_UPLOAD_MB']} MB limit"
        elif wants_json() and status in (404, 405):
            message, headers = _api_words(exc)
        return error_response(status, HTTP_CODES.get(status, "error"), message, headers=headers)


def _drop_connection() -> None:
    """Close the request's broken connection so the pool discards it and the next request reconnects."""
    try:
        if not db.is_closed():
            db.close()
    except Exception:  # noqa: BLE001 - closing a dead connection can fail too; it is gone either way
        pass
