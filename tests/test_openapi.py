"""Real /api/v1 responses validated against the published /api/v1/openapi.json (SPEC §5).

Each response is checked against the operation it came from: its status must be one the
operation lists (``default`` does not count), and its body must validate against that
response's schema, with ``$ref`` resolved inside the published document itself. Every error
body is also checked against ``components/schemas/Error``.
"""
from __future__ import annotations

import datetime as dt

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from domain.business_days import PLACES
from models.register import REQUEST_STATES
from tests.conftest import bearer, login

SPEC_URI = "urn:attest:openapi"
FORMATS = Draft202012Validator.FORMAT_CHECKER


def payload(**overrides) -> dict:
    body = {"name": "Contact centre services", "provider": "BPO A", "frameworks": ["ISO27001-2022", "CPS234"],
            "place": "NSW", "timezone": "Australia/Sydney", "start_date": "2026-01-01",
            "card_payments": False, "offshore": False}
    body.update(overrides)
    return body


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class Contract:
    """The published description, and checks of responses against it."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(spec))
        self.checked: set[tuple[str, str, str]] = set()

    def at(self, pointer: str):
        node = self.spec
        for token in pointer.strip("/").split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(self, pointer: str, instance) -> list[str]:
        """Validation errors of ``instance`` against the schema at ``pointer`` in the document."""
        validator = Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=self.registry,
                                         format_checker=FORMATS)
        return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
                for e in validator.iter_errors(instance)]

    def check(self, response, method: str, path: str) -> dict:
        """Assert ``response`` is one the operation ``method path`` describes; return its JSON body."""
        method = method.lower()
        operation = self.spec["paths"][path][method]
        status = str(response.status_code)
        body = response.get_json()
        assert status in operation["responses"], \
            f"{method.upper()} {path} answered {status} ({body}), which openapi.json does not list"
        pointer = f"/paths/{_escape(path)}/{method}/responses/{status}"
        described = self.at(pointer)
        if "$ref" in described:
            pointer = described["$ref"].removeprefix("#")
            described = self.at(pointer)
        assert response.mimetype in described["content"], f"{method.upper()} {path} {status}: {response.mimetype}"
        problems = self.errors(f"{pointer}/content/{_escape(response.mimetype)}/schema", body)
        assert not problems, f"{method.upper()} {path} {status} does not match openapi.json:\n" + "\n".join(problems)
        if response.status_code >= 400:
            assert not self.errors("/components/schemas/Error", body), body
        self.checked.add((method, path, status))
        return body


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/v1/openapi.json")  # no credentials: the description is public
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def contract(spec) -> Contract:
    return Contract(spec)


@pytest.fixture
def admin(make_user):
    user = make_user("client_admin")
    return user, bearer(user)


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


# ---------------------------------------------------------------- the document itself

def test_the_description_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate_openapi(spec)
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises, naming the bad keyword
    assert "date-time" in FORMATS.checkers and "date" in FORMATS.checkers, \
        "date-time checking needs rfc3339-validator (requirements-dev.txt)"


def test_every_operation_has_a_typed_success_and_error_responses(spec, contract):
    for path, method, operation in operations(spec):
        where = f"{method.upper()} {path}"
        codes = set(operation["responses"])
        success = [c for c in codes if c.startswith("2")]
        assert len(success) == 1, where
        content = operation["responses"][success[0]]["content"]
        if "application/json" not in content:  # a file download: declared as one, and nothing else
            assert content == {"application/octet-stream": {"schema": {
                "type": "string", "contentMediaType": "application/octet-stream",
                "description": "The file, sent as its stored media type."}}}, where
            assert path.endswith("/file"), where
        else:
            schema = content["application/json"]["schema"]
            assert schema.get("$ref") or schema.get("type") == "object", where
        for code in codes - set(success):
            described = operation["responses"][code]
            if "$ref" in described:
                described = contract.at(described["$ref"].removeprefix("#"))
            assert described["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                f"{where} {code}"
        public = operation.get("security") == []
        assert public == path.endswith("/openapi.json"), where
        assert public or "401" in codes, f"{where} can answer 401"
        params = {p["name"]: p for p in operation["parameters"]}
        if "per_page" in params:
            assert "400" in codes, where
            assert params["per_page"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
            assert params["page"]["schema"]["type"] == "integer" and params["page"]["schema"]["minimum"] == 1
        if "engagement_id" in params:
            assert params["engagement_id"]["schema"] == {"type": "integer"} and "404" in codes, where


def test_query_and_body_parameters_are_typed(spec):
    requests_op = spec["paths"]["/api/v1/engagements/{engagement_id}/requests"]["get"]
    status = next(p for p in requests_op["parameters"] if p["name"] == "status")
    assert status["schema"]["items"]["enum"] == list(REQUEST_STATES)
    body = spec["paths"]["/api/v1/engagements"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    new = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert set(new["required"]) == {"name", "provider", "frameworks", "place", "start_date"}
    assert new["properties"]["place"]["enum"] == list(PLACES)
    assert new["properties"]["frameworks"]["items"] == {"type": "string"}
    # the documented body is one the server accepts
    assert not Draft202012Validator(new, format_checker=FORMATS).is_valid(payload(place="Narnia"))
    assert Draft202012Validator(new, format_checker=FORMATS).is_valid(payload())


def test_a_route_beyond_the_specification_says_so(spec):
    """Webhook secret rotation is not among SPEC §10's routes: its description says it is an addition."""
    rotate = spec["paths"]["/api/v1/webhooks/{webhook_id}/rotate-secret"]["post"]
    assert "addition" in rotate["description"] and "SPEC §10" in rotate["description"]
    assert {"404", "409"} <= set(rotate["responses"])
    assert "description" not in spec["paths"]["/api/v1/webhooks"]["get"]


def test_the_schemas_reject_what_the_serialisers_never_produce(contract):
    """The checks below are only worth something if the schemas are strict."""
    engagement = {"id": 1, "name": "n", "client": "c", "provider": "p", "provider_status": "accepted",
                  "contract_ref": "", "start_date": "2026-01-01",
                  "end_date": None, "frameworks": ["CPS234"], "place": "NSW", "timezone": "Australia/Sydney",
                  "card_payments": False, "offshore": False, "contract_notice_hours": 24, "grace_days": 5}
    assert not contract.errors("/components/schemas/Engagement", engagement)
    for broken in ({**engagement, "end_date": "1 Jan"}, {**engagement, "id": "1"}, {**engagement, "extra": 1},
                   {k: v for k, v in engagement.items() if k != "contract_ref"}, {**engagement, "place": "XX"}):
        assert contract.errors("/components/schemas/Engagement", broken), broken
    page = {"items": [engagement], "page": 1, "per_page": 50, "total": 1, "pages": 1}
    assert not contract.errors("/components/schemas/EngagementPage", page)
    assert contract.errors("/components/schemas/EngagementPage", {**page, "items": [{"id": 1}]})
    assert contract.errors("/components/schemas/EngagementPage", {**page, "per_page": 201})
    assert contract.errors("/components/schemas/EngagementPage", {**page, "more": True})
    assert contract.errors("/components/schemas/Error", {"error": {"code": "x"}})
    assert contract.errors("/components/schemas/Error", {"error": {"code": "x", "message": "m", "hint": "h"}})


# ---------------------------------------------------------------- real responses

def test_library_responses_match_the_description(client, admin, contract):
    headers = admin[1]
    frameworks = contract.check(client.get("/api/v1/frameworks", headers=headers), "get", "/api/v1/frameworks")
    assert frameworks["items"]
    obligations = []
    for framework in frameworks["items"]:
        body = contract.check(client.get(f"/api/v1/frameworks/{framework['code']}/obligations?per_page=200",
                                         headers=headers), "get", "/api/v1/frameworks/{code}/obligations")
        assert body["total"] == len(body["items"]) == framework["obligations"]
        obligations += body["items"]
    # both branches of the nullable fields were exercised
    assert {o["parent_ref"] is None for o in obligations} == {True, False}
    assert {o["alt_ref"] is None for o in obligations} == {True, False}
    contract.check(client.get("/api/v1/frameworks/CPS234/obligations?q=incident&per_page=5", headers=headers),
                   "get", "/api/v1/frameworks/{code}/obligations")

    controls = contract.check(client.get("/api/v1/controls?per_page=200", headers=headers), "get", "/api/v1/controls")
    assert controls["total"] == len(controls["items"]) and {c["requires"] is None for c in controls["items"]} == \
        {True, False}
    contract.check(client.get("/api/v1/controls?framework=CPS230&per_page=10&page=2", headers=headers),
                   "get", "/api/v1/controls")
    with_requires = next(c for c in controls["items"] if c["requires"])
    for code in (controls["items"][0]["code"], with_requires["code"]):
        one = contract.check(client.get(f"/api/v1/controls/{code}", headers=headers), "get", "/api/v1/controls/{code}")
        assert one["code"] == code and one["evidence_requirements"]


def test_engagement_responses_match_the_description(client, admin, contract):
    headers = admin[1]
    start = (dt.date.today() - dt.timedelta(days=400)).isoformat()
    created = contract.check(client.post("/api/v1/engagements", headers=headers, json=payload(
        start_date=start, frameworks=["ISO27001-2022", "CPS234", "PCIDSS-4.0.1"], card_payments=True)),
        "post", "/api/v1/engagements")
    ended = contract.check(client.post("/api/v1/engagements", headers=headers, json=payload(
        name="Ended", end_date=(dt.date.today() + dt.timedelta(days=30)).isoformat(), contract_ref="C-1")),
        "post", "/api/v1/engagements")
    assert created["end_date"] is None and ended["end_date"]

    listed = contract.check(client.get("/api/v1/engagements", headers=headers), "get", "/api/v1/engagements")
    assert {e["id"] for e in listed["items"]} == {created["id"], ended["id"]}
    contract.check(client.get("/api/v1/engagements?q=End&per_page=1", headers=headers), "get", "/api/v1/engagements")
    one = contract.check(client.get(f"/api/v1/engagements/{created['id']}", headers=headers),
                         "get", "/api/v1/engagements/{engagement_id}")
    assert one == created

    soa = contract.check(client.get(f"/api/v1/engagements/{created['id']}/applicability?per_page=200",
                                    headers=headers), "get", "/api/v1/engagements/{engagement_id}/applicability")
    assert {r["first_due_date"] is None for r in soa["items"]} == {True, False}
    contract.check(client.get(f"/api/v1/engagements/{created['id']}/applicability?applicable=false",
                              headers=headers), "get", "/api/v1/engagements/{engagement_id}/applicability")

    path = "/api/v1/engagements/{engagement_id}/requests"
    url = f"/api/v1/engagements/{created['id']}/requests"
    every = contract.check(client.get(url + "?per_page=200", headers=headers), "get", path)
    assert every["total"] > 200
    contract.check(client.get(url + f"?per_page=200&page={every['pages']}", headers=headers), "get", path)
    upcoming = contract.check(client.get(url + "?status=upcoming", headers=headers), "get", path)
    assert upcoming["items"] and {r["status"] for r in upcoming["items"]} == {"upcoming"}
    filtered = contract.check(client.get(url + "?status=overdue,upcoming&due_after=2020-01-01&control="
                                         + every["items"][0]["control"], headers=headers), "get", path)
    assert filtered["items"] and {r["status"] for r in filtered["items"]} <= {"overdue", "upcoming"}


def test_audit_event_responses_match_the_description(client, admin, make_user, contract):
    headers = admin[1]
    created = client.post("/api/v1/engagements", headers=headers, json=payload()).get_json()
    login(client, make_user("risk_reviewer"), password="wrong password")
    path = "/api/v1/audit-events"
    every = contract.check(client.get(path, headers=headers), "get", path)
    # creating an engagement also invites its provider, an audited step of its own
    assert {e["action"] for e in every["items"]} == {"engagement.create", "engagement.invite", "auth.login_failed"}
    assert {e["engagement"] for e in every["items"]} == {created["id"], None}
    one = contract.check(client.get(f"{path}?engagement={created['id']}&action=engagement.create&per_page=1"
                                    f"&actor={admin[0].email}&from=2020-01-01&to=2999-12-31", headers=headers),
                         "get", path)
    assert one["total"] == 1


def test_the_description_is_itself_described(client, contract):
    contract.check(client.get("/api/v1/openapi.json"), "get", "/api/v1/openapi.json")


ERRORS = [  # (method, url, path in openapi.json, request kwargs, as whom, status, field)
    ("get", "/api/v1/frameworks", "/api/v1/frameworks", {}, None, 401, None),
    ("get", "/api/v1/engagements", "/api/v1/engagements", {}, "bad token", 401, None),
    ("post", "/api/v1/engagements", "/api/v1/engagements", {"json": payload()}, None, 401, None),
    ("get", "/api/v1/frameworks?page=0", "/api/v1/frameworks", {}, "admin", 400, "page"),
    ("get", "/api/v1/controls?per_page=201", "/api/v1/controls", {}, "admin", 400, "per_page"),
    ("get", "/api/v1/engagements?per_page=x", "/api/v1/engagements", {}, "admin", 400, "per_page"),
    ("get", "/api/v1/controls?framework=NOPE", "/api/v1/controls", {}, "admin", 422, "framework"),
    ("get", "/api/v1/controls/NOPE", "/api/v1/controls/{code}", {}, "admin", 404, None),
    ("get", "/api/v1/frameworks/NOPE/obligations", "/api/v1/frameworks/{code}/obligations", {}, "admin", 404, None),
    ("get", "/api/v1/frameworks/CPS234/obligations?per_page=0", "/api/v1/frameworks/{code}/obligations", {},
     "admin", 400, "per_page"),
    ("get", "/api/v1/engagements/999999", "/api/v1/engagements/{engagement_id}", {}, "admin", 404, None),
    ("get", "/api/v1/engagements/{id}", "/api/v1/engagements/{engagement_id}", {}, "provider elsewhere", 404, None),
    ("get", "/api/v1/engagements/999999/applicability", "/api/v1/engagements/{engagement_id}/applicability", {},
     "admin", 404, None),
    ("get", "/api/v1/engagements/{id}/applicability?page=x", "/api/v1/engagements/{engagement_id}/applicability",
     {}, "admin", 400, "page"),
    ("get", "/api/v1/engagements/999999/requests", "/api/v1/engagements/{engagement_id}/requests", {}, "admin",
     404, None),
    ("get", "/api/v1/engagements/{id}/requests?status=lost", "/api/v1/engagements/{engagement_id}/requests", {},
     "admin", 422, "status"),
    ("get", "/api/v1/engagements/{id}/requests?due_before=soon", "/api/v1/engagements/{engagement_id}/requests",
     {}, "admin", 422, "due_before"),
    ("post", "/api/v1/engagements", "/api/v1/engagements", {"json": payload(place="Narnia")}, "admin", 422,
     "place"),
    ("post", "/api/v1/engagements", "/api/v1/engagements", {"json": payload(frameworks=["NOPE-1"])}, "admin", 422,
     "frameworks"),
    ("post", "/api/v1/engagements", "/api/v1/engagements", {"json": [1, 2]}, "admin", 422, None),
    ("post", "/api/v1/engagements", "/api/v1/engagements", {"json": payload(name="Existing")}, "admin", 409, "name"),
    ("post", "/api/v1/engagements", "/api/v1/engagements",
     {"data": "name=x", "content_type": "application/x-www-form-urlencoded"}, "admin", 400, None),
    ("post", "/api/v1/engagements", "/api/v1/engagements", {"json": payload()}, "provider", 404, None),
    ("post", "/api/v1/engagements", "/api/v1/engagements", {"json": payload()}, "session without csrf", 400, None),
    ("post", "/api/v1/engagements", "/api/v1/engagements", {"json": payload(name="a\ud800")}, "admin", 422, "name"),
    ("post", "/api/v1/engagements", "/api/v1/engagements",
     {"data": "[" * 100_000, "content_type": "application/json"}, "admin", 400, None),
    ("post", "/api/v1/engagements", "/api/v1/engagements", {"json": payload(contract_ref="x" * 2**20)}, "admin", 413,
     None),
    ("get", "/api/v1/audit-events?engagement=999999", "/api/v1/audit-events", {}, "admin", 404, None),
    ("get", "/api/v1/audit-events?from=yesterday", "/api/v1/audit-events", {}, "admin", 422, "from"),
    ("get", "/api/v1/audit-events?per_page=0", "/api/v1/audit-events", {}, "admin", 400, "per_page"),
]


@pytest.mark.parametrize("method,url,path,kwargs,who,status,field", ERRORS,
                         ids=[f"{e[0]} {e[1]} {e[4]} {e[5]}" for e in ERRORS])
def test_error_responses_match_the_description(client, make_user, contract, method, url, path, kwargs, who,
                                               status, field):
    admin = make_user("client_admin")
    existing = client.post("/api/v1/engagements", headers=bearer(admin), json=payload(name="Existing"))
    assert existing.status_code == 201
    headers = {}
    if who == "admin":
        headers = bearer(admin)
    elif who == "bad token":
        headers = {"Authorization": "Bearer not-a-token"}
    elif who == "provider":
        headers = bearer(make_user("provider_admin"))  # BPO A: the provider of "Existing", but not its creator
    elif who == "provider elsewhere":
        headers = bearer(make_user("provider_admin", org="BPO Z"))
    elif who == "session without csrf":
        assert login(client, admin).status_code == 302
    response = getattr(client, method)(url.replace("{id}", str(existing.get_json()["id"])), headers=headers, **kwargs)
    assert response.status_code == status, response.get_json()
    body = contract.check(response, method, path)
    assert body["error"].get("field") == field
