"""The caller's own API tokens: list, create (the secret shown once), revoke."""
from __future__ import annotations

from flask import jsonify

from domain.timeutil import isoformat_utc
from models import ApiToken
from services.people import tokens
from web import openapi as oas
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip

INSTANT_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
TOKEN_PROPERTIES = {
    "id": {"type": "integer"}, "name": {"type": "string"},
    "prefix": {"type": "string", "description": "The token's first characters, to recognise it."},
    "created_at": {"type": "string", "format": "date-time"},
    "last_used_at": {**INSTANT_OR_NULL, "description": "Updated at most once a minute."},
    "revoked_at": INSTANT_OR_NULL,
}
oas.register_schemas({
    "ApiToken": {"type": "object", "additionalProperties": False, "required": list(TOKEN_PROPERTIES),
                 "properties": TOKEN_PROPERTIES},
    "NewApiToken": {"type": "object", "additionalProperties": False, "required": [*TOKEN_PROPERTIES, "token"],
                    "properties": {**TOKEN_PROPERTIES,
                                   "token": {"type": "string", "description": "The secret: shown this once, "
                                                                              "only its SHA-256 is stored."}}},
    "TokenRequest": {"type": "object", "required": ["name"], "additionalProperties": False,
                     "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100}}},
}, pages=("ApiToken",))


def token_json(token: ApiToken) -> dict:
    return {"id": token.id, "name": token.name, "prefix": token.prefix, "created_at": isoformat_utc(token.created_at),
            "last_used_at": isoformat_utc(token.last_used_at), "revoked_at": isoformat_utc(token.revoked_at)}


@route("/tokens", summary="The caller's own API tokens", params=("page", "per_page"), response="ApiTokenPage",
       errors=(400,))
def list_tokens():
    return paginate(tokens.list_tokens(api_user()), lambda rows: [token_json(t) for t in rows])


@route("/tokens", methods=("POST",), status=201, summary="Create a named API token (the secret is shown once)",
       body="TokenRequest", response="NewApiToken", errors=(400, 409, 422))
def create_token():
    row, secret = tokens.create(api_user(), json_body().get("name"), ip=client_ip())
    return jsonify({**token_json(row), "token": secret}), 201


@route("/tokens/<int:token_id>", methods=("DELETE",), summary="Revoke one of the caller's tokens",
       response="ApiToken", errors=(400, 404))
def revoke_token(token_id: int):
    return jsonify(token_json(tokens.revoke(api_user(), token_id, ip=client_ip())))
