"""HTTP API /api/v1 (SPEC §5). Each route: parse, authorise through services.scope, call, serialise.

Routes are declared with ``@route`` so ``/api/v1/openapi.json`` describes every one of them.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from flask import Blueprint, g, jsonify, request

from domain.errors import DomainError, NotFound, ValidationError
from domain.timeutil import isoformat_utc, local
from models import Control, ControlObligation, Engagement, EvidenceRequest, EvidenceRequirement, Framework, Obligation
from services import engagements as engagement_service
from services import register, scope
from web import openapi as oas
from web.auth import api_user, client_ip
from web.openapi import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE
from web.security import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # CSRF is enforced below for session-authenticated writes; tokens need none
OPENAPI_PATHS: dict[str, dict] = {}
PUBLIC_ENDPOINTS: set[str] = set()  # served without authentication (declared with ``public=True``)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    api_user()
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.get("auth_by_token"):
        csrf.protect()


def route(rule: str, methods: tuple[str, ...] = ("GET",), *, summary: str, response: str | dict,
          params: tuple[str, ...] = (), body: str | None = None, status: int = 200,
          errors: tuple[int, ...] = (), public: bool = False) -> Callable:
    """Register a view and its OpenAPI description in one place.

    ``response`` names the schema of the success body (``web.openapi.SCHEMAS``), ``body`` the request
    body's; ``errors`` are the statuses the route can answer with an Error besides 401, which every
    route that is not ``public`` can give.
    """
    def decorator(view: Callable) -> Callable:
        path = oas.openapi_path(rule)
        for method in methods:
            OPENAPI_PATHS.setdefault(path, {})[method.lower()] = oas.operation(
                rule, method, operation_id=f"{view.__name__}_{method.lower()}", summary=summary, params=params,
                response=response, status=status, errors=errors, public=public, body=body)
        if public:
            PUBLIC_ENDPOINTS.add(f"{bp.name}.{view.__name__}")
        return bp.route(rule, methods=list(methods))(view)
    return decorator


def paginate(query, serialise: Callable[[list], list]):
    """``?page=`` (from 1) and ``?per_page=`` (1 to 200) over a peewee query."""
    page = _int_arg("page", 1, minimum=1, maximum=MAX_PAGE)
    per_page = _int_arg("per_page", DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE)
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


# ---------------------------------------------------------------- library

def _framework_json(f: Framework, counts: dict[int, int]) -> dict:
    return {"code": f.code, "title": f.title, "version": f.version, "obligations": counts.get(f.id, 0)}


@route("/frameworks", summary="The frameworks of the control library", params=("page", "per_page"),
       response="FrameworkPage", errors=(400,))
def frameworks():
    counts = register.obligation_counts()
    return paginate(register.live_frameworks(), lambda rows: [_framework_json(f, counts) for f in rows])


@route("/frameworks/<code>/obligations", summary="A framework's obligations", params=("q", "page", "per_page"),
       response="ObligationPage", errors=(400, 404))
def framework_obligations(code: str):
    framework = register.framework_by_code(code)
    query = (Obligation.select().where(Obligation.framework == framework, Obligation.retired_in.is_null())
             .order_by(Obligation.sort_key, Obligation.ref))
    if request.args.get("q"):
        term = request.args["q"]
        query = query.where(Obligation.ref.contains(term) | Obligation.title.contains(term))

    def serialise(rows: list[Obligation]) -> list[dict]:
        controls = register.controls_of_obligations([o.id for o in rows])
        return [{"ref": o.ref, "title": o.title, "parent_ref": o.parent_ref, "alt_ref": o.alt_ref,
                 "frequency": o.frequency, "provable": o.provable, "verification": o.verification,
                 "controls": [{"code": code, "coverage": cov} for code, cov in controls.get(o.id, [])]}
                for o in rows]
    return paginate(query, serialise)


def controls_json(rows: list[Control]) -> list[dict]:
    """Controls with mappings and evidence requirements, in three queries for the whole page."""
    ids = [c.id for c in rows]
    mappings, requirements = register.mappings_of(ids), register.requirements_of(ids)
    return [{"code": c.code, "title": c.title, "description": c.description, "domain": c.domain,
             "frequency": c.frequency, "requires": c.requires or None,
             "frameworks": sorted({m.framework for m in mappings[c.id]}),
             "mappings": [{"framework": m.framework, "ref": m.ref, "title": m.title, "coverage": m.coverage}
                          for m in mappings[c.id]],
             "evidence_requirements": [requirement_json(r) for r in requirements[c.id]]} for c in rows]


def requirement_json(req: EvidenceRequirement) -> dict:
    return {"key": req.key, "name": req.name, "accepted_types": register.accepted_types(req),
            "validity_days": req.validity_days}


@route("/controls", summary="Common controls with mappings and evidence requirements",
       params=("framework", "domain", "q", "page", "per_page"), response="ControlPage", errors=(400, 422))
def controls():
    query = Control.select().where(Control.retired_in.is_null()).order_by(Control.code)
    if request.args.get("framework"):
        framework = Framework.get_or_none(Framework.code == request.args["framework"])
        if framework is None:
            raise ValidationError(f"unknown framework {request.args['framework']!r}", field="framework")
        query = query.where(Control.id.in_(
            ControlObligation.select(ControlObligation.control).join(Obligation)
            .where(Obligation.framework == framework, ControlObligation.retired_in.is_null())))
    if request.args.get("domain"):
        query = query.where(Control.domain == request.args["domain"])
    if request.args.get("q"):
        term = request.args["q"]
        query = query.where(Control.code.contains(term) | Control.title.contains(term))
    return paginate(query, controls_json)


@route("/controls/<code>", summary="One control", response="Control", errors=(404,))
def control(code: str):
    row = Control.get_or_none(Control.code == code)
    if row is None:
        raise NotFound(f"no control {code!r}")
    return jsonify(controls_json([row])[0])


# ---------------------------------------------------------------- engagements

def engagement_json(e: Engagement, frameworks: list[str]) -> dict:
    return {"id": e.id, "name": e.name, "client": e.client.name, "provider": e.provider.name,
            "contract_ref": e.contract_ref, "start_date": e.start_date.isoformat(),
            "end_date": e.end_date.isoformat() if e.end_date else None, "frameworks": frameworks,
            "place": e.place, "timezone": e.timezone, "card_payments": e.card_payments, "offshore": e.offshore}


def engagements_json(rows: list[Engagement]) -> list[dict]:
    frameworks_of = register.frameworks_by_engagement(api_user(), rows)
    return [engagement_json(e, frameworks_of[e.id]) for e in rows]


@route("/engagements", summary="Engagements in the caller's scope", params=("q", "page", "per_page"),
       response="EngagementPage", errors=(400,))
def engagements():
    query = register.engagements_with_parties(api_user())
    if request.args.get("q"):
        query = query.where(Engagement.name.contains(request.args["q"]))
    return paginate(query, engagements_json)


@route("/engagements", methods=("POST",), status=201, summary="Create an engagement (client_admin)",
       body="NewEngagement", response="Engagement", errors=(400, 404, 409, 422))
def create_engagement():
    user = scope.require_engagement_creator(api_user())
    data = request.get_json(silent=True)
    if data is None:
        raise DomainError("expected a JSON body (Content-Type: application/json)")
    engagement = engagement_service.create_engagement(user, data, ip=client_ip())
    return jsonify(engagements_json([engagement])[0]), 201


@route("/engagements/<int:engagement_id>", summary="One engagement", response="Engagement", errors=(404,))
def engagement(engagement_id: int):
    row = scope.engagement_for(api_user(), engagement_id)
    return jsonify(engagements_json([row])[0])


@route("/engagements/<int:engagement_id>/applicability",
       summary="The engagement's Statement of Applicability", params=("applicable", "page", "per_page"),
       response="ApplicabilityRowPage", errors=(400, 404, 422))
def applicability(engagement_id: int):
    user = api_user()
    row = scope.engagement_for(user, engagement_id)
    applicable = register.parse_applicable(request.args.get("applicable"))
    return paginate(register.soa_query(user, row, applicable), lambda rows: [
        {"control": a.control.code, "title": a.control.title, "applicable": a.applicable,
         "justification": a.justification, "frequency": a.frequency_override or a.control.frequency,
         "first_due_date": a.first_due_date.isoformat() if a.first_due_date else None} for a in rows])


@route("/engagements/<int:engagement_id>/requests", summary="Evidence requests of an engagement",
       params=("status", "control", "due_before", "due_after", "page", "per_page"),
       response="EvidenceRequestPage", errors=(400, 404, 422))
def requests(engagement_id: int):
    user = api_user()
    row = scope.engagement_for(user, engagement_id)
    query = (register.requests_with_names(scope.requests_for(user, row))
             .order_by(EvidenceRequest.due_at, EvidenceRequest.id))
    query = register.filter_requests(query, row, request.args)
    tz = row.timezone
    return paginate(query, lambda rows: [
        {"id": r.id, "control": r.control.code, "control_title": r.control.title,
         "requirement": r.requirement.name, "requirement_key": r.requirement.key,
         "accepted_types": json.loads(r.requirement.accepted_types),
         "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(),
         "due_at": isoformat_utc(r.due_at), "due_local": local(r.due_at, tz).isoformat(),
         "status": r.status} for r in rows])


@route("/openapi.json", summary="This description", public=True,
       response={"type": "object", "required": ["openapi", "info", "paths"],
                 "description": "An OpenAPI 3.1 document."})
def openapi():
    return jsonify(oas.document(OPENAPI_PATHS))
