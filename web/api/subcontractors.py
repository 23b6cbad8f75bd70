"""The service provider register: sub-contractors, the client's decision, the APRA offshoring notice and the
APP 8 cross-border recipients (SPEC §2, §5)."""
from __future__ import annotations

from flask import jsonify

from domain.subcontractors import STATES
from domain.timeutil import isoformat_utc
from models import Clock, Subcontractor
from services import scope
from services.register import queries
from services.register import subcontractors as register
from web import openapi as oas
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip

LIST = {"type": "array", "items": oas.STRING}
NULL_DATE = {"type": ["string", "null"], "format": "date"}
CLOCK = oas._object({"rule": oas.STRING, "state": oas.STRING, "started_at": {"type": ["string", "null"]},
                     "deadline_at": {"type": ["string", "null"]}, "basis": oas.STRING})
oas.register_schemas({
    "Subcontractor": oas._object({
        "id": {"type": "integer"}, "engagement": {"type": "integer"}, "name": oas.STRING, "services": LIST,
        "critical_operations": LIST,
        "countries": {**LIST, "description": "ISO 3166-1 alpha-2 codes where data is held or accessed."},
        "data_categories": LIST, "material": {"type": "boolean"}, "offshore": {"type": "boolean"},
        "personal_information": {"type": "boolean"}, "personal_information_detail": oas.STRING,
        "status": {"type": "string", "enum": list(STATES)}, "agreement_date": NULL_DATE,
        "apra_notified_on": {**NULL_DATE, "description": "CPS 230 59(b) notice; needed before an offshore approval."},
        "proposed_at": oas.INSTANT, "decided_at": {"type": ["string", "null"]}, "decision_reason": oas.STRING,
        "clocks": {"type": "array", "items": CLOCK},
    }, description="A sub-contractor (fourth party) on the service provider register."),
    "NewSubcontractor": {
        "type": "object", "required": ["name", "services", "countries"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200}, "services": LIST,
            "critical_operations": LIST, "countries": LIST, "data_categories": LIST,
            "material": {"type": "boolean", "default": False},
            "personal_information": {"type": "boolean", "default": False},
            "personal_information_detail": {"type": "string", "maxLength": 300},
            "agreement_date": oas.DATE}},
    "SubcontractorDecision": {
        "type": "object", "required": ["decision", "reason"],
        "properties": {"decision": {"type": "string", "enum": ["approve", "reject"]},
                       "reason": {"type": "string", "minLength": 1},
                       "agreement_date": {**oas.DATE, "description": "Needed to approve a material one."}}},
    "ApraNotice": {"type": "object", "required": ["notified_on"], "properties": {"notified_on": oas.DATE}},
    "CrossBorderRecipient": oas._object({
        "subcontractor": {"type": "integer"}, "name": oas.STRING, "countries": LIST,
        "personal_information": oas.STRING,
        "reasonable_steps": {"type": "array", "items": oas._object({
            "request_id": {"type": "integer"}, "period_start": oas.DATE, "period_end": oas.DATE,
            "due_at": oas.INSTANT, "status": oas.STRING})},
    }, description="APP 8: an approved sub-contractor or site outside Australia receiving personal information."),
}, pages=("Subcontractor", "CrossBorderRecipient"))


def _clock_json(clock: Clock) -> dict:
    return {"rule": clock.rule_id, "state": clock.state, "started_at": isoformat_utc(clock.started_at),
            "deadline_at": isoformat_utc(clock.deadline_at), "basis": clock.basis}


def subcontractors_json(rows: list[Subcontractor]) -> list[dict]:
    clocks = register.clocks_by_subcontractor(api_user(), [s.id for s in rows])
    return [{"id": s.id, "engagement": s.engagement_id, "name": s.name, "services": register.loads(s.services),
             "critical_operations": register.loads(s.critical_operations), "countries": register.loads(s.countries),
             "data_categories": register.loads(s.data_categories), "material": s.material,
             "offshore": register.rules.is_offshore(register.loads(s.countries)),
             "personal_information": s.personal_information,
             "personal_information_detail": s.personal_information_detail, "status": s.status,
             "agreement_date": s.agreement_date.isoformat() if s.agreement_date else None,
             "apra_notified_on": s.apra_notified_on.isoformat() if s.apra_notified_on else None,
             "proposed_at": isoformat_utc(s.proposed_at), "decided_at": isoformat_utc(s.decided_at),
             "decision_reason": s.decision_reason, "clocks": [_clock_json(c) for c in clocks[s.id]]}
            for s in rows]


@route("/engagements/<int:engagement_id>/subcontractors", summary="The engagement's service provider register",
       params=("page", "per_page"), response="SubcontractorPage", errors=(400, 404))
def subcontractors(engagement_id: int):
    engagement = scope.engagement_for(api_user(), engagement_id)
    return paginate(register.subcontractors_of(engagement), subcontractors_json)


@route("/engagements/<int:engagement_id>/subcontractors", methods=("POST",), status=201,
       summary="Propose a sub-contractor (provider_admin)", body="NewSubcontractor", response="Subcontractor",
       errors=(400, 404, 409, 422))
def propose_subcontractor(engagement_id: int):
    row = register.propose(api_user(), engagement_id, json_body(), ip=client_ip())
    return jsonify(subcontractors_json([row])[0]), 201


@route("/subcontractors/<int:subcontractor_id>/decision", methods=("POST",),
       summary="Approve or reject a proposed sub-contractor with a reason (client_admin, once)",
       body="SubcontractorDecision", response="Subcontractor", errors=(400, 404, 409, 422))
def decide_subcontractor(subcontractor_id: int):
    row = register.decide_on(api_user(), subcontractor_id, json_body(), ip=client_ip())
    return jsonify(subcontractors_json([row])[0])


@route("/subcontractors/<int:subcontractor_id>/apra-notice", methods=("POST",),
       summary="Record the date APRA was notified of an offshore sub-contractor (CPS 230 59(b))",
       body="ApraNotice", response="Subcontractor", errors=(400, 404, 409, 422))
def record_apra_notice(subcontractor_id: int):
    row = register.record_apra_notice(api_user(), subcontractor_id, json_body(), ip=client_ip())
    return jsonify(subcontractors_json([row])[0])


@route("/engagements/<int:engagement_id>/cross-border-recipients",
       summary="APP 8 cross-border recipients with their reasonable-steps requests", params=("page", "per_page"),
       response="CrossBorderRecipientPage", errors=(400, 404))
def cross_border_recipients(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id)
    ids = [s.id for s in queries.cross_border_recipients(engagement)]
    query = Subcontractor.select().where(Subcontractor.id.in_(ids)).order_by(Subcontractor.id)

    def serialise(rows: list[Subcontractor]) -> list[dict]:
        series = register.recipient_requests(engagement, [s.id for s in rows], scope.requests_for(user, engagement))
        return [{"subcontractor": s.id, "name": s.name, "countries": register.loads(s.countries),
                 "personal_information": s.personal_information_detail,
                 "reasonable_steps": [{"request_id": r.id, "period_start": r.period_start.isoformat(),
                                       "period_end": r.period_end.isoformat(), "due_at": isoformat_utc(r.due_at),
                                       "status": r.status} for r in series[s.id]]} for s in rows]
    return paginate(query, serialise)
