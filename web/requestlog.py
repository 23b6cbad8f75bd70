"""Logs with a request id on every line: ``X-Request-Id`` honoured when a proxy sends a sane one (else
generated), returned on the response, and stamped on every record logged while the request runs, plus one
access line per request. ``LOG_FORMAT=json`` writes one JSON object a line (for log shippers);
``LOG_LEVEL`` sets the level (default INFO)."""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
access = logging.getLogger("attest.request")


def current_request_id() -> str:
    return g.get("request_id", "-") if has_request_context() else "-"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the access fields."""
    FIELDS = ("method", "path", "status", "duration_ms", "remote_addr", "bytes")

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
                "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                "request_id": getattr(record, "request_id", current_request_id())}
        line.update({k: getattr(record, k) for k in self.FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def make_formatter(json_lines: bool | None = None) -> logging.Formatter:
    if json_lines is None:
        json_lines = os.environ.get("LOG_FORMAT", "").strip().lower() == "json"
    formatter = JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT)
    formatter.converter = time.gmtime
    return formatter


def configure_logging() -> None:
    """Request ids on the root logger's lines: a stderr handler of our own if the host set none up, else
    (gunicorn with LOG_FORMAT=json, pytest) its handlers gain the filter. Idempotent."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(make_formatter())
        root.addHandler(handler)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    for handler in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


def init_app(app: Flask) -> None:
    # Under a WSGI server (gunicorn), not under the ``flask`` command line: its commands print what they do
    # (``flask scheduler`` sets its own logging up, ``flask run`` has werkzeug's).
    if not app.config.get("TESTING") and os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        configure_logging()

    @app.before_request
    def _request_id() -> None:
        sent = request.headers.get("X-Request-Id", "")
        g.request_id = sent if REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        rid = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-Id"] = rid
        started = g.get("request_started")
        access.info("%s %s %s", request.method, request.path, response.status_code, extra={
            "request_id": rid, "method": request.method, "path": request.path, "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            "remote_addr": request.remote_addr, "bytes": response.calculate_content_length()})
        return response
