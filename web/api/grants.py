"""Auditor grants (client_admin): create and revoke; the engagement's grants and its auditor access log."""
from __future__ import annotations

import json

from flask import current_app, jsonify

from domain.timeutil import isoformat_utc
from models import AuditEvent, AuditorGrant
from services import scope
from services.audit import access_log
from services.auditors import grants
from web import openapi as oas
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip

oas.register_schemas({
    "NewAuditorGrant": oas._object({
        "auditor_email": {"type": "string", "format": "email"},
        "audit_firm": {"type": "string", "description": "For an e-mail no auditor has yet: the audit firm the new "
                                                        "auditor joins; they are invited by e-mail with the grant."},
        "frameworks": {"type": "array", "items": oas.STRING, "minItems": 1},
        "starts_at": oas.INSTANT, "expires_at": oas.INSTANT}),
    "AuditorGrant": oas._object({
        "id": {"type": "integer"}, "engagement": {"type": "integer"}, "auditor_email": oas.STRING,
        "frameworks": oas.CODES, "starts_at": oas.INSTANT, "expires_at": oas.INSTANT,
        "state": {"type": "string", "enum": ["scheduled", "active", "expired", "revoked"]},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"}}),
    "AuditorRead": oas._object({
        "id": {"type": "integer"}, "at": oas.INSTANT, "actor": oas.STRING,
        "action": {"type": "string", "enum": list(scope.AUDITOR_READ_ACTIONS)}, "path": oas.STRING,
        "status": {"type": "integer"}, "ip": oas.STRING, "hash": oas.STRING,
        "what": {"type": "string", "description": "What was read, in words (the evidence item, pack, request…)."}}),
}, pages=("AuditorGrant", "AuditorRead"))


def grant_json(grant: AuditorGrant) -> dict:
    return {"id": grant.id, "engagement": grant.engagement_id, "auditor_email": grant.auditor.email,
            "frameworks": json.loads(grant.frameworks), "starts_at": isoformat_utc(grant.starts_at),
            "expires_at": isoformat_utc(grant.expires_at), "state": grants.grant_state(grant),
            "revoked_at": isoformat_utc(grant.revoked_at)}


def read_json(event: AuditEvent) -> dict:
    details = json.loads(event.details or "{}")
    return {"id": event.id, "at": isoformat_utc(event.at), "actor": event.actor_email, "action": event.action,
            "path": details.get("path", ""), "status": int(details.get("status", 0)), "ip": event.ip,
            "hash": event.hash}


@route("/engagements/<int:engagement_id>/auditor-grants", methods=("POST",), status=201,
       summary="Grant an auditor read-only access to chosen frameworks for a window (client_admin)",
       body="NewAuditorGrant", response="AuditorGrant", errors=(400, 404, 422))
def create_auditor_grant(engagement_id: int):
    grant = grants.create_grant(api_user(), engagement_id, json_body(), base_url=current_app.config.get("BASE_URL"),
                                ip=client_ip())
    return jsonify(grant_json(grant)), 201


@route("/engagements/<int:engagement_id>/auditor-grants", summary="The engagement's auditor grants (client_admin)",
       params=("page", "per_page"), response="AuditorGrantPage", errors=(400, 404))
def auditor_grants(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id, "manage")
    query = AuditorGrant.select().where(AuditorGrant.engagement == engagement).order_by(AuditorGrant.id.desc())
    return paginate(query, lambda rows: [grant_json(g) for g in rows])


@route("/auditor-grants/<int:grant_id>", methods=("DELETE",), summary="Revoke a grant at once (client_admin)",
       response="AuditorGrant", errors=(400, 404, 409))
def revoke_auditor_grant(grant_id: int):
    return jsonify(grant_json(grants.revoke_grant(api_user(), grant_id, ip=client_ip())))


@route("/engagements/<int:engagement_id>/auditor-access", summary="Every read auditors made in the engagement "
       "(client roles)", params=("page", "per_page"), response="AuditorReadPage", errors=(400, 404))
def auditor_access(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id, "access_log")
    return paginate(access_log.access_log(user, engagement), _reads_json)


def _reads_json(events: list[AuditEvent]) -> list[dict]:
    what = access_log.describe_reads(events)
    return [{**read_json(e), "what": what[e.id]} for e in events]
