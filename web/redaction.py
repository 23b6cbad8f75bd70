"""What an auditor reads names no framework outside its grant: every page, API answer (OSCAL included) and
CSV export served to an auditor passes through ``domain.redaction`` with the frameworks it may not see, and so
do the cells of its workbooks (``web.exports``). Files served as they were stored (evidence, packs, reports)
are left alone: evidence is the provider's own file, and a pack is redacted when it is built."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context
from flask_login import current_user

from domain.redaction import redact
from services import scope

REWRITTEN = ("text/html", "application/json", "text/csv", "text/plain")


def _reader():
    if g.get("api_user") is not None:
        return g.api_user
    return current_user._get_current_object() if current_user.is_authenticated else None


def reader_redactor() -> Callable[[str], str] | None:
    """For an auditor, the function that rewrites text it reads; None for everyone else (and outside a request:
    a workbook built by a command has no reader)."""
    if not has_request_context():
        return None
    if "hidden_frameworks" not in g:
        g.hidden_frameworks = scope.hidden_frameworks(_reader())
    hidden = g.hidden_frameworks
    return (lambda text: redact(text, hidden)) if hidden else None


def init_app(app: Flask) -> None:
    @app.after_request
    def _redact_for_auditors(response: Response) -> Response:
        if response.direct_passthrough or response.is_streamed or response.mimetype not in REWRITTEN:
            return response
        rewrite = reader_redactor()
        if rewrite is None:
            return response
        if response.mimetype == "application/json":  # its strings, not its escaped text (\u201cAPRA)
            response.set_data(current_app.json.dumps(_each_string(response.get_json(), rewrite)) + "\n")
        else:
            response.set_data(rewrite(response.get_data(as_text=True)))
        return response


def _each_string(value: Any, rewrite: Callable[[str], str]) -> Any:
    """A JSON value with every string in it (keys included) rewritten."""
    if isinstance(value, str):
        return rewrite(value)
    if isinstance(value, list):
        return [_each_string(v, rewrite) for v in value]
    if isinstance(value, dict):
        return {rewrite(k): _each_string(v, rewrite) for k, v in value.items()}
    return value
