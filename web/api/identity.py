"""An organisation's single sign-on settings (its admin): read and replace. The client secret is write-only."""
from __future__ import annotations

from flask import current_app, jsonify

from services.identity import saml, sso
from web import openapi as oas
from web.api import json_body, route
from web.auth import api_user, client_ip

ROLE = {"type": "string", "enum": ["client_admin", "risk_reviewer", "provider_admin", "provider_contributor",
                                   "auditor"]}
SETTINGS = {
    "protocol": {"type": "string", "enum": ["oidc", "saml"]},
    "enabled": {"type": "boolean"},
    "issuer": {"type": "string", "description": "OpenID Connect issuer (https); for SAML, read from the metadata."},
    "client_id": {"type": "string"},
    "idp_metadata": {"type": "string", "description": "SAML: the identity provider's metadata XML."},
    "domains": {"type": "array", "items": {"type": "string"},
                "description": "E-mail domains the organisation declares it owns (each at most one organisation's)."},
    "default_role": {"type": "string", "description": "Role of users created on first sign-in (own side only)."},
    "group_claim": {"type": "string", "description": "The ID-token claim or SAML attribute holding groups."},
    "group_roles": {"type": "object", "additionalProperties": ROLE, "description": "Group → role (own side only)."},
    "create_users": {"type": "boolean"},
    "password_allowed": {"type": "boolean", "description": "May its users still use a password?"},
}
oas.register_schemas({
    "SsoSettings": {"type": "object", "required": ["organisation_id", "configured", "enabled", "client_secret_set"],
                    "properties": {**SETTINGS, "organisation_id": {"type": "integer"},
                                   "configured": {"type": "boolean"},
                                   "protocol": {"type": ["string", "null"], "enum": ["oidc", "saml", None]},
                                   "slug": {"type": ["string", "null"]},
                                   "login_path": {"type": ["string", "null"]},
                                   "client_secret_set": {"type": "boolean",
                                                         "description": "The secret itself is never returned."}}},
    "SsoSettingsRequest": {"type": "object", "additionalProperties": False,
                           "properties": {**SETTINGS, "client_secret": {"type": "string", "writeOnly": True}}},
})


@route("/organisations/<int:organisation_id>/sso", summary="The organisation's single sign-on settings (its admin)",
       response="SsoSettings", errors=(404,))
def get_sso(organisation_id: int):
    return jsonify(sso.settings_json(*sso.settings_for(api_user(), organisation_id)))


@route("/organisations/<int:organisation_id>/sso", methods=("PUT",), body="SsoSettingsRequest",
       summary="Set the organisation's single sign-on (absent fields keep their value; the secret is write-only)",
       response="SsoSettings", errors=(404, 409))
def put_sso(organisation_id: int):
    user = api_user()
    config = sso.save_settings(user, organisation_id, json_body(), secret_key=current_app.config["SECRET_KEY"],
                               ip=client_ip(), metadata_check=saml.idp_entity_id)
    return jsonify(sso.settings_json(config.organisation, config))
