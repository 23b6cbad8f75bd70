"""The OpenAPI 3.1 description of /api/v1: schemas of what the serialisers in ``web.api`` produce,
query parameters, error responses, and the operation each ``@route`` records.

Every schema is closed (``additionalProperties: false``) and lists every key as required, because
the serialisers always emit every key: ``tests/test_openapi.py`` validates real responses against
this document, so a serialiser and its schema cannot drift apart unnoticed.
"""
from __future__ import annotations

import re
from typing import Any

from domain.business_days import PLACES
from domain.inbox import DUE_WINDOWS
from domain.library import COVERAGES, PRODUCERS, REQUIRES, VERIFICATIONS
from models.register import REQUEST_STATES

MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000  # beyond any real list; keeps OFFSET within every database's integer range
DEFAULT_PER_PAGE = 50


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, dict], *, optional: tuple[str, ...] = (), description: str = "") -> dict:
    schema: dict[str, Any] = {"type": "object",
                              "required": [k for k in properties if k not in optional],
                              "properties": properties, "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def _page_of(item: str) -> dict:
    return {"description": f"A page of {item} items.", "allOf": [ref("Page")],
            "properties": {"items": {"type": "array", "items": ref(item)}},
            "unevaluatedProperties": False}


STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
DATE = {"type": "string", "format": "date"}
INSTANT = {"type": "string", "format": "date-time"}
CODES = {"type": "array", "items": STRING, "uniqueItems": True}
# what domain.library accepts in a requirement's `types` (its regex is case-insensitive; JSON Schema has no flags)
MEDIA_TYPE_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]{0,126}/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]{0,126}$"
MEDIA_TYPES = {"type": "array", "items": {"type": "string", "pattern": MEDIA_TYPE_PATTERN},
               "description": "Accepted media types, e.g. application/pdf."}
COVERAGE = {"type": "string", "enum": list(COVERAGES)}

SCHEMAS: dict[str, dict] = {
    "Error": _object({"error": _object({
        "code": {"type": "string", "description": "Machine-readable: bad_request, csrf, unauthorised, not_found, "
                                                  "conflict, invalid, …"},
        "message": {"type": "string", "minLength": 1, "description": "For people."},
        "field": {"type": "string", "description": "The parameter or body field at fault, when there is one."},
        "items": {"type": "array", "description": "A bulk decision refused: each item that cannot be decided.",
                  "items": _object({"id": {"type": "integer"}, "code": {"type": "string"},
                                    "message": {"type": "string"}})},
    }, optional=("field", "items"))}),
    "Page": {"type": "object", "required": ["items", "page", "per_page", "total", "pages"],
             "description": "One page of a list; ?page= counts from 1.",
             "properties": {"items": {"type": "array"},
                            "page": {"type": "integer", "minimum": 1},
                            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                            "total": {"type": "integer", "minimum": 0},
                            "pages": {"type": "integer", "minimum": 0}}},
    "Framework": _object({"code": STRING, "title": STRING, "version": STRING,
                          "requires": {**NULLABLE_STRING, "description": "The engagement setting that must be on "
                                       "for the framework to be in scope (card_payments, soci_reporting, "
                                       "ransomware_reporting), or null."},
                          "obligations": {"type": "integer", "minimum": 0,
                                          "description": "How many live obligations the framework has."}}),
    "Obligation": _object({
        "ref": STRING, "title": STRING, "parent_ref": NULLABLE_STRING,
        "alt_ref": {**NULLABLE_STRING, "description": "Another numbering, e.g. the CPS 230 2026 paragraph "
                                                      "as reported; rely on it only when alt_ref_verification "
                                                      "is verified."},
        "alt_ref_verification": {"type": ["string", "null"], "enum": [*VERIFICATIONS, None],
                                 "description": "How far alt_ref is confirmed: verified by a primary source, "
                                                "secondary sources only, or unverified."},
        "frequency": STRING, "provable": {"type": "boolean"},
        "verification": {"type": "string", "enum": ["", *VERIFICATIONS]},
        "controls": {"type": "array", "items": _object({"code": STRING, "coverage": COVERAGE}),
                     "description": "The controls that serve this obligation."},
    }),
    "EvidenceRequirement": _object({"key": STRING, "name": STRING, "accepted_types": MEDIA_TYPES,
                                    "validity_days": {"type": "integer", "minimum": 1},
                                    "produced_by": {"type": "string", "enum": list(PRODUCERS),
                                                    "description": "Who uploads it: the provider, or the client's "
                                                                   "risk team for evidence only it holds."}}),
    "Control": _object({
        "code": STRING, "title": STRING, "description": STRING, "domain": STRING,
        "frequency": {"type": "string", "description": "ISO 8601 duration, RRULE or \"event\"."},
        "requires": {"type": ["string", "null"], "enum": [*REQUIRES, None],
                     "description": "The engagement fact the control applies only with."},
        "frameworks": CODES,
        "mappings": {"type": "array", "items": _object({"framework": STRING, "ref": STRING, "title": STRING,
                                                        "coverage": COVERAGE})},
        "evidence_requirements": {"type": "array", "items": ref("EvidenceRequirement")},
    }),
    "Engagement": _object({
        "id": {"type": "integer"}, "name": STRING,
        "client": {"type": "string", "description": "The client organisation's name."},
        "provider": {"type": "string", "description": "The provider organisation's name; while the provider has "
                                                      "not accepted, the name the client invited."},
        "provider_status": {"type": "string", "enum": ["accepted", "invited", "declined"],
                            "description": "Whether the provider accepted the engagement (see "
                                           "/engagement-invitations); only an accepted provider sees it."},
        "contract_ref": STRING, "start_date": DATE, "end_date": {"type": ["string", "null"], "format": "date"},
        "frameworks": CODES, "place": {"type": "string", "enum": list(PLACES)},
        "timezone": {"type": "string", "description": "IANA time zone, e.g. Australia/Sydney."},
        "card_payments": {"type": "boolean"},
        "offshore": {"type": "boolean", "description": "Derived: an approved sub-contractor outside Australia."},
        "contract_notice_hours": {"type": "integer", "minimum": 1,
                                  "description": "Hours the provider has to notify the client of an incident."},
        "grace_days": {"type": "integer", "minimum": 0, "description": "Days past due before a request is overdue."},
    }),
    "NewEngagement": {
        "type": "object", "required": ["name", "provider", "frameworks", "place", "start_date"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "provider": {"type": "string", "minLength": 1, "maxLength": 200,
                         "description": "The provider organisation's name. It is invited: it sees the engagement, "
                                        "its requests and its owners only once one of its admins accepts; the "
                                        "answer is the same whatever the name."},
            "frameworks": {"type": "array", "items": STRING, "minItems": 1,
                           "description": "Framework codes, e.g. CPS234."},
            "place": {"type": "string", "enum": list(PLACES),
                      "description": "The AU state or territory whose business days apply."},
            "timezone": {"type": "string", "default": "Australia/Sydney"},
            "start_date": DATE,
            "end_date": {"type": ["string", "null"], "format": "date", "description": "After start_date."},
            "contract_ref": {"type": "string", "maxLength": 100},
            "card_payments": {"type": "boolean", "default": False},
            "offshore": {"type": "boolean", "default": False, "enum": [False],
                         "description": "Derived from the service provider register; only false at creation."},
        }},
    "ApplicabilityRow": _object({
        "control": STRING, "title": STRING, "applicable": {"type": "boolean"}, "justification": STRING,
        "frequency": STRING, "first_due_date": {"type": ["string", "null"], "format": "date"},
        "frequency_override": {**NULLABLE_STRING, "description": "Replaces the library's frequency when set."},
        "owner": {**NULLABLE_STRING, "description": "The owner's e-mail."},
        "edited_by": {**NULLABLE_STRING, "description": "Who last edited the row by hand (e-mail); null: generated."},
        "edited_at": {"type": ["string", "null"], "format": "date-time"},
    }, description="One row of the Statement of Applicability."),
    "EvidenceRequest": _object({
        "id": {"type": "integer"}, "control": STRING, "control_title": STRING,
        "requirement": STRING, "requirement_key": STRING, "accepted_types": MEDIA_TYPES,
        "period_start": DATE, "period_end": DATE,
        "due_at": {**INSTANT, "description": "UTC, with a Z suffix."},
        "due_local": {**INSTANT, "description": "The same instant in the engagement's time zone."},
        "status": {"type": "string", "enum": list(REQUEST_STATES)},
    }),
}
for _item in ("Framework", "Obligation", "Control", "Engagement", "ApplicabilityRow", "EvidenceRequest"):
    SCHEMAS[f"{_item}Page"] = _page_of(_item)



def register_schemas(schemas: dict[str, dict], *, pages: tuple[str, ...] = ()) -> None:
    """Add a resource's schemas (and ``<Name>Page`` list schemas for ``pages``); each API module
    registers its own, next to the serialisers they describe."""
    clash = set(schemas) & set(SCHEMAS)
    if clash:
        raise ValueError(f"schema(s) {sorted(clash)} already registered")
    SCHEMAS.update(schemas)
    for item in pages:
        SCHEMAS[f"{item}Page"] = _page_of(item)


def register_parameters(parameters: dict[str, dict]) -> None:
    """Add query parameters a resource's routes take (names already described must mean the same)."""
    for name, spec in parameters.items():
        if name in QUERY_PARAMETERS and QUERY_PARAMETERS[name] != spec:
            raise ValueError(f"query parameter {name!r} is already described differently")
        QUERY_PARAMETERS[name] = spec


ERROR_RESPONSES = {
    "400": ("BadRequest", "A malformed query parameter (page, per_page) or body, or a missing CSRF token "
                          "on a session-authenticated write."),
    "401": ("Unauthorised", "No session and no Bearer token, or an unknown, revoked or malformed token."),
    "404": ("NotFound", "No such thing, or it is outside the caller's scope (existence is not revealed)."),
    "409": ("Conflict", "The request conflicts with what exists, e.g. a duplicate name."),
    "413": ("TooLarge", "The body (an upload, or a JSON body over 1 MB) is larger than allowed."),
    "415": ("UnsupportedMediaType", "The uploaded file's content is not a type the requirement accepts."),
    "422": ("Invalid", "A well-formed request with an invalid value; `field` names it."),
}
RESPONSES = {name: {"description": description, "content": {"application/json": {"schema": ref("Error")}}}
             for name, description in ERROR_RESPONSES.values()}
RESPONSES["Error"] = {"description": "Any other error, in the same shape.",
                      "content": {"application/json": {"schema": ref("Error")}}}

QUERY_PARAMETERS: dict[str, dict] = {
    "page": {"description": "Page number, from 1.",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}},
    "per_page": {"description": f"Items per page (at most {MAX_PER_PAGE}).",
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE,
                            "default": DEFAULT_PER_PAGE}},
    "q": {"description": "Case-insensitive substring of the code/ref, title or name.", "schema": STRING},
    "framework": {"description": "Only controls mapped to this framework code (422 if unknown).", "schema": STRING},
    "domain": {"description": "Only controls of this domain.", "schema": STRING},
    "due": {"description": "Only requests due in this window: overdue (past due), 7d or 30d (due within that many "
                           "days from now), later (due more than 30 days from now); 422 otherwise.",
            "schema": {"type": "string", "enum": list(DUE_WINDOWS)}},
    "applicable": {"description": "Only applicable (true) or not applicable (false) rows; 422 otherwise.",
                   "schema": {"type": "boolean"}},
    "status": {"description": "Only requests in these states (comma-separated; 422 if unknown).",
               "schema": {"type": "array", "items": {"type": "string", "enum": list(REQUEST_STATES)}},
               "style": "form", "explode": False},
    "control": {"description": "Only requests of this control code.", "schema": STRING},
    "due_before": {"description": "Due before the start of this day in the engagement's time zone.",
                   "schema": DATE},
    "due_after": {"description": "Due on or after the start of this day in the engagement's time zone.",
                  "schema": DATE},
}

FILE = "file"  # ``route(response=FILE)``: the success body is a file download, not JSON

_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def openapi_path(rule: str) -> str:
    """``/engagements/<int:engagement_id>`` -> ``/api/v1/engagements/{engagement_id}``."""
    return "/api/v1" + _PATH_PARAM.sub(r"{\2}", rule)


def operation(rule: str, method: str, *, operation_id: str, summary: str, params: tuple[str, ...],
              response: str | dict, status: int, errors: tuple[int, ...], public: bool,
              body: str | None = None, body_type: str = "application/json", description: str = "") -> dict:
    """One operation: parameters, request body, the success response and every error it can give."""
    unknown = [p for p in params if p not in QUERY_PARAMETERS]
    if unknown:
        raise ValueError(f"describe query parameter(s) {unknown} in web.openapi.QUERY_PARAMETERS")
    path_params = [{"name": name, "in": "path", "required": True,
                    "schema": {"type": "integer"} if converter == "int" else STRING}
                   for converter, name in _PATH_PARAM.findall(rule)]
    if response == FILE:
        content = {"application/octet-stream": {"schema": {
            "type": "string", "contentMediaType": "application/octet-stream",
            "description": "The file, sent as its stored media type."}}}
    else:
        content = {"application/json": {"schema": ref(response) if isinstance(response, str) else response}}
    responses: dict[str, dict] = {str(status): {"description": "success", "content": content}}
    for code in sorted(set(errors) | (set() if public else {401})):
        responses[str(code)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[str(code)][0]}"}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    op: dict[str, Any] = {
        "summary": summary, "operationId": operation_id,
        "parameters": [{"name": p, "in": "query", **QUERY_PARAMETERS[p]} for p in params] + path_params,
        "responses": responses,
    }
    if description:
        op["description"] = description
    if body and method != "GET":
        op["requestBody"] = {"required": True, "content": {body_type: {"schema": ref(body)}}}
    if public:
        op["security"] = []
    return op


def document(paths: dict[str, dict]) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Attest API", "version": "1",
                 "description": "Compliance evidence tracker with audit rights for outsourced contact centres. "
                                "Errors are {\"error\": {\"code\", \"message\", \"field\"?}}."},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token from `flask create-token`."},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "The browser session; writes then need an X-CSRFToken header."},
            },
            "schemas": SCHEMAS, "responses": RESPONSES,
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
    }
