"""Engagement invitations: a provider admin sees the engagements its organisation is invited to and accepts or
declines them; the client's people see their engagements' invitations."""
from __future__ import annotations

from flask import jsonify

from domain.invitations import STATES
from domain.timeutil import isoformat_utc
from models import EngagementInvitation
from services import scope
from services.register import invitations
from web import openapi as oas
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip

oas.register_schemas({
    "EngagementInvitation": oas._object({
        "id": {"type": "integer"}, "engagement": {"type": "integer"}, "engagement_name": oas.STRING,
        "client": {"type": "string", "description": "The inviting client organisation's name."},
        "provider": {"type": "string", "description": "The provider name the client invited."},
        "state": {"type": "string", "enum": list(STATES)}, "invited_at": oas.INSTANT,
        "decided_at": {"type": ["string", "null"], "format": "date-time"}, "reason": oas.STRING}),
    "InvitationDecision": {
        "type": "object", "required": ["decision"], "additionalProperties": False,
        "properties": {"decision": {"type": "string", "enum": ["accept", "decline"]},
                       "reason": {"type": "string", "maxLength": 1000}}},
}, pages=("EngagementInvitation",))


def invitation_json(row: EngagementInvitation) -> dict:
    engagement = row.engagement
    return {"id": row.id, "engagement": engagement.id, "engagement_name": engagement.name,
            "client": engagement.client.name, "provider": row.provider_name, "state": row.state,
            "invited_at": isoformat_utc(row.created_at), "decided_at": isoformat_utc(row.decided_at),
            "reason": row.reason}


@route("/engagement-invitations", summary="Engagement invitations: a provider admin's pending and accepted ones, "
       "a client's own", params=("page", "per_page"), response="EngagementInvitationPage", errors=(400,))
def engagement_invitations():
    query = scope.invitations_for(api_user()).order_by(EngagementInvitation.id.desc())
    return paginate(query, lambda rows: [invitation_json(r) for r in rows])


@route("/engagement-invitations/<int:invitation_id>/decision", methods=("POST",),
       summary="Accept or decline an engagement invitation (provider_admin of the invited organisation)",
       body="InvitationDecision", response="EngagementInvitation", errors=(400, 404, 409, 422))
def decide_invitation(invitation_id: int):
    row = invitations.decide(api_user(), invitation_id, json_body(), ip=client_ip())
    return jsonify(invitation_json(row))
