"""Users of the caller's organisation (its admins only): list, invite, change role, deactivate,
reactivate."""
from __future__ import annotations

from flask import current_app, jsonify

from domain.timeutil import isoformat_utc
from models import User
from services import scope
from services.people import users
from web import openapi as oas
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip

MANAGEABLE = sorted({r for roles in scope.MANAGED_ROLES.values() for r in roles})
INSTANT_OR_NULL = {"type": ["string", "null"], "format": "date-time"}

oas.register_schemas({
    "User": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "email", "role", "full_name", "status", "created_at", "last_login_at", "deactivated_at"],
        "properties": {
            "id": {"type": "integer"}, "email": {"type": "string"},
            "role": {"type": "string", "enum": MANAGEABLE}, "full_name": {"type": "string"},
            "status": {"type": "string", "enum": ["invited", "active", "deactivated"],
                       "description": "invited: the one-time link was sent, no password set yet."},
            "created_at": {"type": "string", "format": "date-time"},
            "last_login_at": INSTANT_OR_NULL, "deactivated_at": INSTANT_OR_NULL,
        }},
    "NewUser": {
        "type": "object", "required": ["email", "role"], "additionalProperties": False,
        "description": "An invitation: the user gets an e-mailed one-time link (72 hours) to set a password.",
        "properties": {
            "email": {"type": "string", "maxLength": 254},
            "role": {"type": "string", "enum": MANAGEABLE,
                     "description": "A role of the caller's side: client_admin/risk_reviewer for a client admin, "
                                    "provider_admin/provider_contributor for a provider admin."},
            "full_name": {"type": "string", "maxLength": 200},
        }},
    "UserChanges": {
        "type": "object", "required": ["role"], "additionalProperties": False,
        "properties": {"role": {"type": "string", "enum": MANAGEABLE}}},
}, pages=("User",))


def user_json(user: User) -> dict:
    return {"id": user.id, "email": user.email, "role": user.role, "full_name": user.full_name,
            "status": users.status_of(user), "created_at": isoformat_utc(user.created_at),
            "last_login_at": isoformat_utc(user.last_login_at), "deactivated_at": isoformat_utc(user.deactivated_at)}


@route("/users", summary="Users of the caller's organisation (admins only)", params=("page", "per_page"),
       response="UserPage", errors=(400, 404))
def list_users():
    return paginate(scope.users_for(api_user()).order_by(User.email), lambda rows: [user_json(u) for u in rows])


@route("/users", methods=("POST",), status=201, summary="Invite a user: e-mails a one-time link to set a password",
       body="NewUser", response="User", errors=(400, 404, 409, 422))
def invite_user():
    invited = users.invite(api_user(), json_body(), base_url=current_app.config.get("BASE_URL"), ip=client_ip())
    return jsonify(user_json(invited.user)), 201


@route("/users/<int:user_id>", methods=("PATCH",), summary="Change a user's role (within the caller's side)",
       body="UserChanges", response="User", errors=(400, 404, 409, 422))
def update_user(user_id: int):
    body = json_body()
    return jsonify(user_json(users.change_role(api_user(), user_id, body.get("role"), ip=client_ip())))


@route("/users/<int:user_id>/deactivate", methods=("POST",),
       summary="Deactivate a user: its sessions and API tokens stop working at once", response="User",
       errors=(400, 404, 409))
def deactivate_user(user_id: int):
    return jsonify(user_json(users.deactivate(api_user(), user_id, ip=client_ip())))


@route("/users/<int:user_id>/reactivate", methods=("POST",),
       summary="Reactivate a deactivated user: it signs in again with its password (one that never set one gets "
               "a new one-time link); sessions and API tokens of before stay ended", response="User",
       errors=(400, 404, 409))
def reactivate_user(user_id: int):
    return jsonify(user_json(users.reactivate(api_user(), user_id, base_url=current_app.config.get("BASE_URL"),
                                              ip=client_ip())))
