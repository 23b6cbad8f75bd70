"""The audit trail in the caller's scope: ``GET /audit-events`` (SPEC §5)."""
from __future__ import annotations

from flask import request

from domain.timeutil import isoformat_utc
from models import AuditEvent
from services import scope
from services.audit import audit_log
from web.api import paginate, route
from web.auth import api_user
from web.openapi import STRING, register_parameters, register_schemas


def event_json(event: AuditEvent) -> dict:
    return {"id": event.id, "at": isoformat_utc(event.at), "actor": event.actor_email, "action": event.action,
            "object_type": event.object_type, "object_id": event.object_id, "engagement": event.engagement_id,
            "details": audit_log.details_of(event), "prev_hash": event.prev_hash, "hash": event.hash}


register_schemas({
    "AuditEvent": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "at", "actor", "action", "object_type", "object_id", "engagement", "details",
                     "prev_hash", "hash"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "string", "format": "date-time", "description": "UTC."},
            "actor": {"type": "string", "description": "The acting user's e-mail when the event was recorded "
                                                      "(the e-mail tried, for a failed sign-in; `cli`, "
                                                      "`scheduler` for those)."},
            "action": {"type": "string", "description": "e.g. auth.login, auth.login_failed, evidence.upload, "
                                                       "evidence.download, evidence.review, grant.create"},
            "object_type": {"type": "string"}, "object_id": {"type": "string"},
            "engagement": {"type": ["integer", "null"]},
            "details": {"type": "object"},
            "prev_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                     "description": "SHA-256 over every column of the event and prev_hash (verify-audit-log)."},
        },
    },
}, pages=("AuditEvent",))
register_parameters({
    "engagement": {"description": "Only this engagement (an id in the caller's scope).", "schema": {"type": "integer"}},
    "action": {"description": "Only these actions (comma-separated), e.g. auth.login_failed,evidence.review.",
               "schema": STRING},
    "actor": {"description": "Only events by this e-mail address.", "schema": STRING},
    "from": {"description": "From this date (YYYY-MM-DD, whole local days of the engagement, else UTC) or "
                            "date-time with offset, included.", "schema": STRING},
    "to": {"description": "Up to this date or date-time, included.", "schema": STRING},
})


@route("/audit-events", summary="The audit trail in the caller's scope, newest first",
       params=("engagement", "action", "actor", "from", "to", "page", "per_page"),
       response="AuditEventPage", errors=(400, 404, 422))
def audit_events():
    user = api_user()
    query, tz = scope.audit_events_for(user), "UTC"
    if request.args.get("engagement"):
        engagement = scope.engagement_for(user, request.args["engagement"])
        query, tz = query.where(AuditEvent.engagement == engagement.id), engagement.timezone
    return paginate(audit_log.filter_events(query, request.args, tz), lambda rows: [event_json(e) for e in rows])
