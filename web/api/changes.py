"""Change events that open event-driven evidence requests (SPEC §5 ``POST /engagements/<id>/changes``)."""
from __future__ import annotations

from flask import jsonify

from domain.timeutil import isoformat_utc
from models.incidents import CHANGE_KINDS
from services import scope
from services.incidents import changes as change_service
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip
from web.openapi import INSTANT, STRING, _object, register_schemas

register_schemas({
    "OpenedRequest": _object({"id": {"type": "integer"}, "control": STRING, "requirement": STRING,
                              "due_at": INSTANT, "status": STRING}),
    "Change": _object({
        "id": {"type": "integer"}, "engagement_id": {"type": "integer"}, "title": STRING,
        "kind": {"type": "string", "enum": list(CHANGE_KINDS)}, "occurred_at": INSTANT, "description": STRING,
        "requests": {"type": "array", "items": {"$ref": "#/components/schemas/OpenedRequest"},
                     "description": "The event-driven evidence requests the change opened."},
        "voided_at": {"type": ["string", "null"], "format": "date-time",
                      "description": "Set when the change was voided (recorded by mistake); it is kept."},
        "void_reason": {"type": ["string", "null"]},
    }),
    "VoidChange": {"type": "object", "required": ["reason"],
                   "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}},
    "NewChange": {"type": "object", "required": ["title", "kind", "occurred_at"],
                  "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 200},
                                 "kind": {"type": "string", "enum": list(CHANGE_KINDS)},
                                 "occurred_at": {**INSTANT, "description": "ISO 8601 with offset; not in the future."},
                                 "description": STRING}},
}, pages=("Change",))


def changes_json(rows, visible=None) -> list[dict]:
    opened = change_service.opened_requests([c.id for c in rows], visible)
    return [{"id": c.id, "engagement_id": c.engagement_id, "title": c.title, "kind": c.kind,
             "occurred_at": isoformat_utc(c.occurred_at), "description": c.description,
             "voided_at": isoformat_utc(c.voided_at) if c.voided_at else None, "void_reason": c.void_reason,
             "requests": [{"id": r.id, "control": r.control.code, "requirement": r.requirement.name,
                           "due_at": isoformat_utc(r.due_at), "status": r.status} for r in opened[c.id]]}
            for c in rows]


@route("/engagements/<int:engagement_id>/changes", summary="Change events of an engagement",
       params=("page", "per_page"), response="ChangePage", errors=(400, 404))
def changes(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id)
    visible = scope.requests_for(user, engagement)
    return paginate(change_service.changes_of(engagement), lambda rows: changes_json(rows, visible))


@route("/engagements/<int:engagement_id>/changes", methods=("POST",), status=201,
       summary="Record a change event; opens the event-driven requests of the controls it triggers",
       body="NewChange", response="Change", errors=(400, 404, 422))
def create_change(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id, "record_change")
    change, _ids = change_service.create_change(user, engagement, json_body(), ip=client_ip())
    return jsonify(changes_json([change])[0]), 201


@route("/changes/<int:change_id>/void", methods=("POST",),
       summary="Void a change event recorded by mistake, with a reason: it is kept and shown void, and the "
               "requests it opened that nothing else needs are retired",
       body="VoidChange", response="Change", errors=(400, 404, 409, 422))
def void_change(change_id: int):
    change, _retired = change_service.void_change(api_user(), change_id, json_body(), ip=client_ip())
    return jsonify(changes_json([change])[0])
