"""HTTP API /api/v1 (SPEC §5), one module per resource. Each route: parse, authorise through
services.scope, call a service, serialise.

Routes are declared with ``@route`` (here) so ``/api/v1/openapi.json`` describes every one of them;
lists use ``paginate``. A new resource is a module in this package, imported at the bottom.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from flask import Blueprint, Response, g, jsonify, request

from domain.errors import DomainError, ValidationError
from web import idempotency
from web import openapi as oas
from web.auth import api_user
from web.openapi import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE
from web.security import csrf, streams_upload

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # CSRF is enforced below for session-authenticated writes; tokens need none
OPENAPI_PATHS: dict[str, dict] = {}
PUBLIC_ENDPOINTS: set[str] = set()  # served without authentication (declared with ``public=True``)


@bp.before_request
def _authenticate() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    user = api_user()
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.get("auth_by_token") and not streams_upload():
        csrf.protect()  # streamed uploads check their CSRF token in web.uploads, before storing a byte
    return idempotency.begin(user)  # a repeated Idempotency-Key: the first request's response


def route(rule: str, methods: tuple[str, ...] = ("GET",), *, summary: str, response: str | dict,
          params: tuple[str, ...] = (), body: str | None = None, status: int = 200,
          errors: tuple[int, ...] = (), public: bool = False, body_type: str = "application/json",
          description: str = "") -> Callable:
    """Register a view and its OpenAPI description in one place.

    ``response`` names the schema of the success body (``web.openapi.SCHEMAS``), ``body`` the request
    body's (``body_type``: its media type, e.g. multipart/form-data); ``response`` may be ``web.openapi.FILE``
    for a route that answers with a file; ``errors`` are the statuses the route can answer with an Error
    besides 401, which every route that is not ``public`` can give; ``description`` is the operation's longer
    text (e.g. that a route is an addition to the specification's list).
    """
    def decorator(view: Callable) -> Callable:
        path = oas.openapi_path(rule)
        for method in methods:
            # every JSON body can be malformed or deep (400), too large (413) or hold a lone surrogate (422)
            json_in = body and body_type == "application/json" and method != "GET"
            codes = (*errors, 400, 413, 422) if json_in else errors
            OPENAPI_PATHS.setdefault(path, {})[method.lower()] = oas.operation(
                rule, method, operation_id=f"{view.__name__}_{method.lower()}", summary=summary, params=params,
                response=response, status=status, errors=codes, public=public, body=body, body_type=body_type,
                description=description)
        if public:
            PUBLIC_ENDPOINTS.add(f"{bp.name}.{view.__name__}")
        return bp.route(rule, methods=list(methods))(view)
    return decorator


def page_args() -> tuple[int, int]:
    """``?page=`` (from 1) and ``?per_page=`` (1 to 200); 400 when out of range."""
    return (_int_arg("page", 1, minimum=1, maximum=MAX_PAGE),
            _int_arg("per_page", DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE))


def paginate(query, serialise: Callable[[list], list]):
    """``?page=`` (from 1) and ``?per_page=`` (1 to 200) over a peewee query."""
    page, per_page = page_args()
    total = query.count()
    rows = list(query.paginate(page, per_page))
    return jsonify({"items": serialise(rows), "page": page, "per_page": per_page, "total": total,
                    "pages": (total + per_page - 1) // per_page})


def _int_arg(name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DomainError(f"{name} must be a whole number", field=name) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum else f"at least {minimum}"
        raise DomainError(f"{name} must be {bound}", field=name)
    return value



def json_body() -> dict:
    """The request's JSON body as an object: 400 when there is no JSON body, 422 when it is not an object."""
    data = request.get_json(silent=True)
    if data is None:
        raise DomainError("expected a JSON body (Content-Type: application/json)")
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    return data


# Every module of this package registers its routes on ``bp`` when imported: a new resource needs no edit here.
def _import_resources() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}")


_import_resources()
