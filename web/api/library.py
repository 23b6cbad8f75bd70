"""The control library: frameworks, obligations, controls."""
from __future__ import annotations

from flask import jsonify, request

from domain.errors import ValidationError
from models import Control, ControlObligation, EvidenceRequirement, Framework, Obligation
from services import scope
from services.register import queries
from web.api import paginate, route
from web.auth import api_user


def _framework_json(f: Framework, counts: dict[int, int]) -> dict:
    return {"code": f.code, "title": f.title, "version": f.version, "requires": f.requires,
            "obligations": counts.get(f.id, 0)}


@route("/frameworks", summary="The frameworks of the control library", params=("page", "per_page"),
       response="FrameworkPage", errors=(400,))
def frameworks():
    counts = queries.obligation_counts()
    return paginate(scope.library_frameworks(api_user()), lambda rows: [_framework_json(f, counts) for f in rows])


@route("/frameworks/<code>/obligations", summary="A framework's obligations", params=("q", "page", "per_page"),
       response="ObligationPage", errors=(400, 404))
def framework_obligations(code: str):
    framework = scope.library_framework(api_user(), code)
    query = (Obligation.select().where(Obligation.framework == framework, Obligation.retired_in.is_null())
             .order_by(Obligation.sort_key, Obligation.ref))
    if request.args.get("q"):
        term = request.args["q"]
        query = query.where(Obligation.ref.contains(term) | Obligation.title.contains(term))

    def serialise(rows: list[Obligation]) -> list[dict]:
        controls = queries.controls_of_obligations([o.id for o in rows])
        return [{"ref": o.ref, "title": o.title, "parent_ref": o.parent_ref, "alt_ref": o.alt_ref,
                 "alt_ref_verification": o.alt_ref_verification,
                 "frequency": o.frequency, "provable": o.provable, "verification": o.verification,
                 "controls": [{"code": code, "coverage": cov} for code, cov in controls.get(o.id, [])]}
                for o in rows]
    return paginate(query, serialise)


def controls_json(rows: list[Control]) -> list[dict]:
    """Controls with mappings and evidence requirements, in three queries for the whole page."""
    rows = queries.readable_controls(api_user(), rows)
    ids = [c.id for c in rows]
    mappings, requirements = queries.readable_mappings(api_user(), ids), queries.requirements_of(ids)
    return [{"code": c.code, "title": c.title, "description": c.description, "domain": c.domain,
             "frequency": c.frequency, "requires": c.requires or None,
             "frameworks": sorted({m.framework for m in mappings[c.id]}),
             "mappings": [{"framework": m.framework, "ref": m.ref, "title": m.title, "coverage": m.coverage}
                          for m in mappings[c.id]],
             "evidence_requirements": [requirement_json(r) for r in requirements[c.id]]} for c in rows]


def requirement_json(req: EvidenceRequirement) -> dict:
    return {"key": req.key, "name": req.name, "accepted_types": queries.accepted_types(req),
            "validity_days": req.validity_days, "produced_by": req.produced_by}


@route("/controls", summary="Common controls with mappings and evidence requirements",
       params=("framework", "domain", "q", "page", "per_page"), response="ControlPage", errors=(400, 422))
def controls():
    query = scope.library_controls(api_user()).order_by(Control.code)
    if request.args.get("framework"):
        framework = scope.library_frameworks(api_user()).where(Framework.code == request.args["framework"]).first()
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
    return jsonify(controls_json([scope.library_control(api_user(), code)])[0])


