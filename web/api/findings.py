"""Findings (SPEC §5): raised by hand, by breached clocks, by the governance rule and by auditors; answered
with a corrective action plan and closed by the client with evidence."""
from __future__ import annotations

from flask import jsonify, request

from domain.errors import ValidationError
from models import Finding
from models.incidents import FINDING_SEVERITIES, FINDING_SOURCES, FINDING_STATES
from services import scope
from services.incidents import findings as finding_service
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip
from web.openapi import INSTANT, STRING, _object, register_parameters, register_schemas

NULL_INT = {"type": ["integer", "null"]}
register_schemas({
    "Finding": _object({
        "id": {"type": "integer"}, "engagement_id": {"type": "integer"}, "title": STRING,
        "source": {"type": "string", "enum": list(FINDING_SOURCES)},
        "severity": {"type": "string", "enum": list(FINDING_SEVERITIES)},
        "owner": {"type": ["string", "null"], "description": "The owner's e-mail."},
        "due_date": {"type": ["string", "null"], "format": "date"}, "action_plan": STRING,
        "status": {"type": "string", "enum": list(FINDING_STATES)}, "description": STRING,
        "request_id": NULL_INT, "incident_id": NULL_INT, "clock_id": NULL_INT, "closure_evidence_id": NULL_INT,
        "closure_note": STRING, "created_at": INSTANT, "closed_at": {"type": ["string", "null"], "format": "date-time"},
        "warnings": {"type": "array", "items": STRING,
                     "description": "After an edit: what the caller should know (a due date left in the past)."},
    }, optional=("warnings",)),
    "NewFinding": {"type": "object", "required": ["title"],
                   "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 200},
                                  "severity": {"type": "string", "enum": list(FINDING_SEVERITIES)},
                                  "owner": {"type": "string", "description": "A user's e-mail (client or provider)."},
                                  "due_date": {"type": "string", "format": "date"}, "description": STRING}},
    "FindingChange": {"type": "object", "description": "The provider: action_plan, status plan_submitted. The client: "
                      "title, severity, owner, due_date, description, status in_progress|open|closed (open, returning "
                      "a plan, needs a reason; closed needs closure_evidence_id, an accepted item of the engagement).",
                      "properties": {"status": {"type": "string", "enum": list(FINDING_STATES)},
                                     "reason": {"type": "string", "description": "Why (returning a plan)."},
                                     "action_plan": STRING, "closure_evidence_id": {"type": "integer"},
                                     "closure_note": STRING, "title": STRING,
                                     "severity": {"type": "string", "enum": list(FINDING_SEVERITIES)},
                                     "owner": STRING, "due_date": {"type": "string", "format": "date"},
                                     "description": STRING}},
}, pages=("Finding",))
register_parameters({"finding_status": {"description": "Only findings in this status.",
                                        "schema": {"type": "string", "enum": list(FINDING_STATES)}}})


def _filtered(query):
    status = request.args.get("finding_status")
    if status:
        if status not in FINDING_STATES:
            raise ValidationError(f"finding_status must be one of {', '.join(FINDING_STATES)}", field="finding_status")
        query = query.where(Finding.status == status)
    return query


def _json(rows) -> list[dict]:
    return [finding_service.finding_json(f) for f in rows]


@route("/findings", summary="Findings across the caller's engagements", params=("finding_status", "page", "per_page"),
       response="FindingPage", errors=(400, 422))
def all_findings():
    return paginate(_filtered(finding_service.findings_for(api_user())), _json)


@route("/engagements/<int:engagement_id>/findings", summary="Findings of an engagement",
       params=("finding_status", "page", "per_page"), response="FindingPage", errors=(400, 404, 422))
def findings(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id)
    return paginate(_filtered(finding_service.findings_for(user, engagement)), _json)


@route("/engagements/<int:engagement_id>/findings", methods=("POST",), status=201, summary="Raise a finding",
       body="NewFinding", response="Finding", errors=(400, 404, 422))
def create_finding(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id, "raise_finding")
    finding = finding_service.create_from_input(user, engagement, json_body(), ip=client_ip())
    return jsonify(finding_service.finding_json(finding)), 201


@route("/findings/<int:finding_id>", summary="One finding", response="Finding", errors=(404,))
def finding(finding_id: int):
    return jsonify(finding_service.finding_json(finding_service.finding_for(api_user(), finding_id)))


@route("/findings/<int:finding_id>", methods=("PATCH",), summary="Answer, edit, move or close a finding",
       body="FindingChange", response="Finding", errors=(400, 404, 422))
def update_finding(finding_id: int):
    user = api_user()
    row = finding_service.finding_for(user, finding_id)
    data = json_body()
    updated = finding_service.update_from_input(user, row, data, ip=client_ip())
    body = finding_service.finding_json(updated)
    warning = finding_service.past_due_warning(updated) if isinstance(data, dict) and "due_date" in data else None
    if warning:
        body["warnings"] = [warning]
    return jsonify(body)
