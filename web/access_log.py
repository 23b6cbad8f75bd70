"""One hook logs every read an auditor makes, on every page and API route (SPEC §1: "every view and
download is logged"): no route has to remember to. Each is an ``auditor.view`` with its path; a download is
also the ``evidence.download`` / ``pack.download`` event the service opening the file records (for anyone)."""
from __future__ import annotations

from flask import Flask, Response, g, request
from flask_login import current_user

from services.audit import access_log
from web.auth import client_ip

# Routes that only report a job's progress, polled by the page an auditor has open (itself a logged read): no
# client data in them, so they are not reads (a pack's progress bar would otherwise add a row a second).
STATUS_ONLY = frozenset({"api.pack"})


def _reader():
    """The signed-in caller (API token or session), or None."""
    if g.get("api_user") is not None:
        return g.api_user
    return current_user._get_current_object() if current_user.is_authenticated else None


def init_app(app: Flask) -> None:
    @app.after_request
    def _log_auditor_read(response: Response) -> Response:
        if request.method not in ("GET", "HEAD") or request.endpoint in (None, "static") or \
                request.endpoint in STATUS_ONLY:
            return response
        user = _reader()
        if user is None or user.role != "auditor":
            return response
        access_log.record_read(user, path=request.full_path.rstrip("?"), view_args=request.view_args or {},
                               status=response.status_code, ip=client_ip())
        return response
