"""Engagements, their Statement of Applicability and evidence requests."""
from __future__ import annotations

import json

from flask import jsonify, request

from domain.timeutil import isoformat_utc, local
from models import Applicability, Engagement, EngagementInvitation, EvidenceRequest
from services import scope
from services.register import applicability as applicability_service
from services.register import engagements as engagement_service
from services.register import invitations, queries
from web import openapi as oas
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip

oas.register_schemas({
    "EngagementChanges": {
        "type": "object", "minProperties": 1, "additionalProperties": False,
        "description": "Only the fields to change. Each change re-plans the schedule: past requests and their "
                       "evidence stay; future (upcoming) requests that no longer apply are retired.",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "end_date": {"type": ["string", "null"], "format": "date",
                         "description": "After start_date, and not before any period already submitted or accepted."},
            "contract_ref": {"type": "string", "maxLength": 100},
            "contract_notice_hours": {"type": "integer", "minimum": 1, "maximum": 720},
            "grace_days": {"type": "integer", "minimum": 0, "maximum": 90},
            "frameworks": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "card_payments": {"type": "boolean"}, "offshore": {"type": "boolean"},
        }},
    "ApplicabilityChanges": {
        "type": "object", "minProperties": 1, "additionalProperties": False,
        "properties": {
            "applicable": {"type": "boolean"},
            "justification": {"type": "string", "maxLength": 2000,
                              "description": "Required when the control is marked not applicable."},
            "owner": {"type": ["string", "null"],
                      "description": "E-mail of a user of the client or of the provider once it accepted."},
            "frequency_override": {"type": ["string", "null"],
                                   "description": "ISO 8601 duration (P3M) or RRULE; null restores the library's."},
            "first_due_date": {"type": ["string", "null"], "format": "date"},
        }},
})


def engagement_json(e: Engagement, frameworks: list[str], invitation: EngagementInvitation | None = None) -> dict:
    pending = invitation is not None and invitation.state != "accepted"
    return {"id": e.id, "name": e.name, "client": e.client.name,
            "provider": invitation.provider_name if pending else e.provider.name,
            "provider_status": invitations.provider_status(invitation),
            "contract_ref": e.contract_ref, "start_date": e.start_date.isoformat(),
            "end_date": e.end_date.isoformat() if e.end_date else None, "frameworks": frameworks,
            "place": e.place, "timezone": e.timezone, "card_payments": e.card_payments, "offshore": e.offshore,
            "contract_notice_hours": e.contract_notice_hours, "grace_days": e.grace_days}


def engagements_json(rows: list[Engagement]) -> list[dict]:
    frameworks_of = queries.frameworks_by_engagement(api_user(), rows)
    invited = invitations.by_engagement([e.id for e in rows])
    return [engagement_json(e, frameworks_of[e.id], invited.get(e.id)) for e in rows]


@route("/engagements", summary="Engagements in the caller's scope", params=("q", "page", "per_page"),
       response="EngagementPage", errors=(400,))
def engagements():
    query = queries.engagements_with_parties(api_user())
    if request.args.get("q"):
        query = query.where(Engagement.name.contains(request.args["q"]))
    return paginate(query, engagements_json)


@route("/engagements", methods=("POST",), status=201, summary="Create an engagement (client_admin)",
       body="NewEngagement", response="Engagement", errors=(400, 404, 409, 422))
def create_engagement():
    user = scope.require_engagement_creator(api_user())
    engagement = engagement_service.create_engagement(user, json_body(), ip=client_ip())
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
    applicable = queries.parse_applicable(request.args.get("applicable"))
    return paginate(queries.soa_query(user, row, applicable),
                    lambda rows: soa_rows_json(queries.redact_justifications(user, row, rows)))


def soa_rows_json(rows: list[Applicability]) -> list[dict]:
    emails = applicability_service.owners_by_id(rows)
    return [{"control": a.control.code, "title": a.control.title, "applicable": a.applicable,
             "justification": a.justification, "frequency": a.frequency_override or a.control.frequency,
             "first_due_date": a.first_due_date.isoformat() if a.first_due_date else None,
             "frequency_override": a.frequency_override, "owner": emails.get(a.owner_id),
             "edited_by": emails.get(a.edited_by_id), "edited_at": isoformat_utc(a.edited_at)} for a in rows]


@route("/engagements/<int:engagement_id>", methods=("PATCH",),
       summary="Change an engagement's settings (client_admin); the schedule is re-planned, history kept",
       body="EngagementChanges", response="Engagement", errors=(400, 404, 409, 422))
def update_engagement(engagement_id: int):
    row = engagement_service.update_engagement(api_user(), engagement_id, json_body(), ip=client_ip())
    return jsonify(engagements_json([scope.engagement_for(api_user(), row.id)])[0])


@route("/engagements/<int:engagement_id>/applicability/<code>", methods=("PATCH",),
       summary="Edit one Statement of Applicability row (client_admin); the schedule is re-planned",
       body="ApplicabilityChanges", response="ApplicabilityRow", errors=(400, 404, 422))
def update_applicability(engagement_id: int, code: str):
    row = applicability_service.update(api_user(), engagement_id, code, json_body(), ip=client_ip())
    return jsonify(soa_rows_json([row])[0])


@route("/engagements/<int:engagement_id>/requests", summary="Evidence requests of an engagement",
       params=("status", "control", "framework", "owner", "due", "due_before", "due_after", "page", "per_page"),
       response="EvidenceRequestPage", errors=(400, 404, 422))
def requests(engagement_id: int):
    user = api_user()
    row = scope.engagement_for(user, engagement_id)
    query = (queries.requests_with_names(scope.requests_for(user, row))
             .order_by(EvidenceRequest.due_at, EvidenceRequest.id))
    query = queries.filter_requests(user, query, row, request.args)
    return paginate(query, lambda rows: [request_json(r, row.timezone) for r in rows])


def request_json(r: EvidenceRequest, tz: str) -> dict:
    """An evidence request (with its ``control`` and ``requirement`` loaded) as the API shows it."""
    return {"id": r.id, "control": r.control.code, "control_title": r.control.title,
            "requirement": r.requirement.name, "requirement_key": r.requirement.key,
            "accepted_types": json.loads(r.requirement.accepted_types),
            "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(),
            "due_at": isoformat_utc(r.due_at), "due_local": local(r.due_at, tz).isoformat(),
            "status": r.status}


