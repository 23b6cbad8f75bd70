"""Idempotency keys on creating requests (``services.idempotency``): the API's ``Idempotency-Key`` header and
the hidden ``idempotency_key`` of the page forms that create (``idempotency_field()`` in a template; a
multipart form, whose streamed body is not parsed before the view, carries it in its action's query string;
the button also disables itself while the form posts, ``static/attest.js``).

``begin`` runs once the caller is known (the API's and the pages' ``before_request``): it claims the key, or
answers with the response the key's first request got (``Idempotent-Replayed: true``). The response is kept
after the request (``after_request``); a request that fails (a 4xx or 5xx, an exception) lets its key go, so
the corrected or retried submission runs. A page form submitted twice at once waits for the first to finish
and shows its outcome; the API answers 409 meanwhile.
"""
from __future__ import annotations

import time
import uuid

from flask import Flask, Response, g, request
from markupsafe import Markup

from domain.errors import Conflict
from models import User
from services.idempotency import keys

HEADER = "Idempotency-Key"
FIELD = "idempotency_key"
PAGE_WAIT = 10.0  # seconds a page's repeat waits for its first submission to finish
_CLAIM = "idempotency_claim"


def _key() -> str | None:
    if request.method != "POST":
        return None
    if HEADER in request.headers:
        return request.headers[HEADER]
    if request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get(FIELD) or None
    # never parse an upload's streamed body here: a multipart form carries its key in its action's query string
    return request.args.get(FIELD) or None


def begin(user: User, *, wait: bool = False) -> Response | None:
    """Claim the request's key for ``user`` (nothing without one); a repeat gets the first one's response.
    ``wait``: while the first is still running, wait for it (a page) instead of answering 409 (the API)."""
    key = _key()
    if key is None:
        return None
    deadline = time.monotonic() + (PAGE_WAIT if wait else 0)
    while True:
        try:
            outcome = keys.claim(user.id, key, f"{request.method} {request.path}")
            break
        except Conflict:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
    if isinstance(outcome, keys.Replay):
        response = Response(outcome.body, status=outcome.status, content_type=outcome.content_type or None)
        if outcome.location:
            response.headers["Location"] = outcome.location
        response.headers["Idempotent-Replayed"] = "true"
        return response
    g.setdefault(_CLAIM, outcome)
    return None


def new_key() -> str:
    """A fresh key for a form as it is shown (a multipart form puts it in its action: ``idempotency_key=``)."""
    return str(uuid.uuid4())


def field(key: str | None = None) -> Markup:
    """The hidden input of a creating form: a new key each time the form is shown, or ``key`` (a multipart form's,
    also in its action, so the script that disables its button and sends its files finds it)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, key or new_key())


def init_app(app: Flask) -> None:
    app.jinja_env.globals["idempotency_field"] = field
    app.jinja_env.globals["idempotency_key"] = new_key

    @app.after_request
    def _keep(response: Response) -> Response:
        claim_id = g.pop(_CLAIM, None)
        if claim_id is None:
            return response
        if response.status_code >= 400 or response.is_streamed:
            keys.release(claim_id)
        else:
            keys.complete(claim_id, response.status_code, response.content_type or "",
                          response.headers.get("Location", ""), response.get_data(as_text=True))
        return response

    @app.teardown_request
    def _failed(_exc) -> None:
        claim_id = g.pop(_CLAIM, None)
        if claim_id is not None:
            keys.release(claim_id)
