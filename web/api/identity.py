"""SCIM 2.0 at ``/scim/v2`` (RFC 7644): an identity provider provisions an organisation's users and groups
with that organisation's SCIM token. Its own blueprint (``scim``): SCIM's media type, errors and
authentication differ from ``/api/v1``'s. Thin: authenticate, parse the query, call ``services.identity.scim``.

An organisation's single sign-on settings (its admin): read and replace. The client secret is write-only."""
from __future__ import annotations

import pydantic
from flask import Blueprint, Response, current_app, g, json, jsonify, request
from scim2_models import (
    Error,
    Group,
    InvalidSyntaxException,
    NotFoundException,
    NotImplementedException,
    ResponseParameters,
    SCIMException,
    User,
)
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from domain.errors import DomainError
from services.identity import saml, scim, sso
from web import openapi as oas
from web.api import json_body, route
from web.auth import api_user, client_ip
from web.security import csrf

scim_bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
csrf.exempt(scim_bp)  # a bearer token, never a cookie
MEDIA_TYPE = "application/scim+json"
DEFAULT_COUNT = 100
KINDS = {"Users": User, "Groups": Group}


def _respond(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE, headers=headers)


def _error(status: int, detail: str, scim_type: str | None = None) -> Response:
    body = Error(status=status, detail=detail, scim_type=scim_type).model_dump()
    headers = {"WWW-Authenticate": 'Bearer realm="scim"'} if status == 401 else None
    return _respond(body, status, headers)


@scim_bp.errorhandler(SCIMException)
def _scim_error(exc: SCIMException) -> Response:
    return _error(exc.status, exc.detail, exc.scim_type or None)


@scim_bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    return _error(exc.status if exc.status != 422 else 400, exc.message, "invalidValue" if exc.status == 422 else None)


@scim_bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return _error(exc.code or 400, exc.description or exc.name)


@scim_bp.before_request
def _authenticate() -> Response | None:
    header = request.headers.get("Authorization", "")
    secret = header[7:].strip() if header[:7].lower() == "bearer " else ""
    caller = scim.caller_for(secret)
    if caller is None:
        return _error(401, "a valid SCIM bearer token is required")
    g.scim_caller = caller
    return None


def _base() -> str:
    return request.host_url.rstrip("/") + (scim_bp.url_prefix or "")


def _body() -> dict:
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise InvalidSyntaxException(detail="expected a JSON object body")
    return data


def _params(source: dict | None = None) -> ResponseParameters | None:
    source = source if source is not None else request.args
    raw = {k: source.get(k) for k in ("attributes", "excludedAttributes") if source.get(k)}
    if not raw:
        return None
    try:
        return ResponseParameters.model_validate(raw)
    except pydantic.ValidationError:
        raise InvalidSyntaxException(detail="attributes and excludedAttributes are comma-separated paths") from None


def _window(source: dict) -> tuple[int, int]:
    """``startIndex`` (from 1; less counts as 1) and ``count`` (0 to 200; more is cut, RFC 7644 §3.4.2.4)."""
    try:
        start = int(source.get("startIndex") or 1)
        count = int(source.get("count") if source.get("count") not in (None, "") else DEFAULT_COUNT)
    except (TypeError, ValueError):
        raise InvalidSyntaxException(detail="startIndex and count are whole numbers") from None
    return max(1, min(start, 2**31)), max(0, min(count, scim.MAX_RESULTS))


def _list(kind: str, source: dict) -> Response:
    start, count = _window(source)
    lister = scim.list_users if kind == "Users" else scim.list_groups
    total, documents = lister(g.scim_caller, source.get("filter"), start, count, _base())
    return _respond(scim.list_response(total, start, documents, KINDS[kind], _params(source)))


def _one(kind: str, document: dict, status: int = 200) -> Response:
    headers = {"Location": document["meta"]["location"], "ETag": document["meta"]["version"]}
    return _respond(scim.render(document, KINDS[kind], _params()), status, headers)


@scim_bp.route("/Users", methods=["GET"])
def users() -> Response:
    return _list("Users", request.args)


@scim_bp.route("/Groups", methods=["GET"])
def groups() -> Response:
    return _list("Groups", request.args)


@scim_bp.route("/Users/.search", methods=["POST"])
@scim_bp.route("/Groups/.search", methods=["POST"])
def search() -> Response:
    kind = request.path.rsplit("/", 2)[-2]
    body = _body()
    return _list(kind, {k: v for k, v in body.items() if k != "schemas"})


@scim_bp.route("/Users", methods=["POST"])
def create_user() -> Response:
    return _one("Users", scim.create_user(g.scim_caller, _body(), _base()), 201)


@scim_bp.route("/Groups", methods=["POST"])
def create_group() -> Response:
    return _one("Groups", scim.create_group(g.scim_caller, _body(), _base()), 201)


@scim_bp.route("/Users/<user_id>", methods=["GET", "PUT", "PATCH", "DELETE"])
def user(user_id: str) -> Response:
    caller, base = g.scim_caller, _base()
    if request.method == "DELETE":
        scim.delete_user(caller, user_id)
        return Response(status=204)
    if request.method == "PUT":
        return _one("Users", scim.replace_user(caller, user_id, _body(), base))
    if request.method == "PATCH":
        return _one("Users", scim.patch_user(caller, user_id, _body(), base))
    return _one("Users", scim.get_user(caller, user_id, base))


@scim_bp.route("/Groups/<group_id>", methods=["GET", "PUT", "PATCH", "DELETE"])
def group(group_id: str) -> Response:
    caller, base = g.scim_caller, _base()
    if request.method == "DELETE":
        scim.delete_group(caller, group_id)
        return Response(status=204)
    if request.method == "PUT":
        return _one("Groups", scim.replace_group(caller, group_id, _body(), base))
    if request.method == "PATCH":
        return _one("Groups", scim.patch_group(caller, group_id, _body(), base))
    return _one("Groups", scim.get_group(caller, group_id, base))


ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _read_only() -> None:
    """Discovery is read-only: any other method is 405, in SCIM's words."""
    if request.method != "GET":
        raise MethodNotAllowed(valid_methods=["GET"], description=f"{request.method} is not allowed here")


@scim_bp.route("/ServiceProviderConfig", methods=ALL_METHODS)
def service_provider_config() -> Response:
    _read_only()
    return _respond(scim.service_provider_config(_base()))


@scim_bp.route("/ResourceTypes", methods=ALL_METHODS)
@scim_bp.route("/Schemas", methods=ALL_METHODS)
def discovery_list() -> Response:
    _read_only()
    documents = (scim.resource_types if request.path.endswith("ResourceTypes") else scim.schemas)(_base())
    return _respond({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                     "totalResults": len(documents), "startIndex": 1, "itemsPerPage": len(documents),
                     "Resources": documents})


@scim_bp.route("/ResourceTypes/<key>", methods=ALL_METHODS)
@scim_bp.route("/Schemas/<key>", methods=ALL_METHODS)
def discovery_one(key: str) -> Response:
    _read_only()
    lister = scim.resource_types if "/ResourceTypes/" in request.path else scim.schemas
    return _respond(scim.one_of(lister(_base()), key))


@scim_bp.route("/.search", methods=["POST"])
def search_everything() -> Response:
    raise NotImplementedException(detail="search one resource type at a time: /Users/.search or /Groups/.search")


@scim_bp.route("/<path:anything>", methods=ALL_METHODS)
def unknown(anything: str) -> Response:
    raise NotFoundException(detail=f"/{anything} is not a SCIM endpoint here")


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
