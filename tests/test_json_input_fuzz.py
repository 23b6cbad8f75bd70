"""Bad JSON values on every write route of the API (SPEC §7): each field of each documented request body with
the wrong type, non-finite numbers, numbers beyond 64 bits and date-times at the limits of the offsets — never
a 500; NaN and Infinity are a 422 everywhere. The routes and their fields come from the OpenAPI document, so a
new route is fuzzed as soon as it is documented."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from tests.conftest import bearer

WRITE = ("post", "put", "patch", "delete")
LATE, EARLY = "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"
WRONG = [[], {}, True, 10**30, 1.5, "１", LATE, EARLY]
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]


@pytest.fixture
def fuzz_world(client, evidence_world, make_user):
    """Real ids for every path parameter: an incident, a finding, a subcontractor, evidence, a grant, a token,
    a user and a notification of the evidence world's engagement."""
    w = evidence_world
    admin, contributor = bearer(w.admin), bearer(w.contributor)
    engagement = w.engagement.id
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    incident = client.post(f"/api/v1/engagements/{engagement}/incidents", headers=admin, json={
        "title": "Outage", "category": "operational_disruption",
        "occurred_at": (now - dt.timedelta(hours=3)).isoformat(),
        "aware_at": (now - dt.timedelta(hours=2)).isoformat(), "aware_party": "client", "flags": ["material"]})
    assert incident.status_code == 201, incident.get_json()
    finding = client.post(f"/api/v1/engagements/{engagement}/findings", headers=admin, json={
        "title": "Gap", "severity": "high", "due_date": (now + dt.timedelta(days=30)).date().isoformat()})
    subcontractor = client.post(f"/api/v1/engagements/{engagement}/subcontractors", headers=admin, json={
        "name": "Cloud Co", "services": "hosting", "countries": ["AU"]})
    upload = w.upload(w.request())
    assert upload.status_code == 201, upload.get_json()
    auditor = make_user("auditor")
    grant = client.post(f"/api/v1/engagements/{engagement}/auditor-grants", headers=admin, json={
        "auditor_email": auditor.email, "frameworks": ["ISO27001-2022"], "starts_at": now.isoformat(),
        "expires_at": (now + dt.timedelta(days=5)).isoformat()})
    token = client.post("/api/v1/tokens", headers=admin, json={"name": "fuzz"})
    user = client.post("/api/v1/users", headers=admin, json={"email": "fuzzed@banka.example", "role": "risk_reviewer",
                                                             "full_name": "Fuzzed"})
    notifications = client.get("/api/v1/notifications", headers=admin).get_json()
    clocks = incident.get_json()["clocks"]
    ids = {"engagement_id": engagement, "incident_id": incident.get_json()["id"],
           "finding_id": finding.get_json().get("id", 1), "subcontractor_id": subcontractor.get_json().get("id", 1),
           "evidence_id": upload.get_json()["id"], "request_id": upload.get_json()["request_id"],
           "grant_id": grant.get_json().get("id", 1), "token_id": token.get_json().get("id", 1),
           "user_id": user.get_json().get("id", 1),
           "notification_id": (notifications.get("items") or [{"id": 1}])[0]["id"],
           "rule": clocks[0]["rule"] if clocks else "CPS234-35", "code": "A.5.15"}
    return {"ids": ids, "actors": [admin, bearer(w.reviewer), contributor]}


def _openapi(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def _properties(schema: dict, components: dict) -> dict:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    found = dict(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []):
            found.update(_properties(part, components))
    return found


def _plausible(schema: dict):
    """A value of the field's documented type (for the rest of the body while one field is fuzzed)."""
    kinds = schema.get("type", "string")
    kind = kinds[0] if isinstance(kinds, list) else kinds
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("format") == "date-time":
        return (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0).isoformat()
    if schema.get("format") == "date":
        return dt.date.today().isoformat()
    items = schema.get("items", {})
    return {"integer": 1, "number": 1, "boolean": True, "object": {},
            "array": [items["enum"][0]] if "enum" in items else []}.get(kind, "fuzz")


def json_write_routes(client) -> list[tuple[str, str, dict]]:
    spec = _openapi(client)
    components = spec["components"]["schemas"]
    routes = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if method in WRITE and (not content or "application/json" in content):
                schema = content.get("application/json", {}).get("schema", {})
                routes.append((method, path, _properties(schema, components)))
    return routes


def _url(path: str, ids: dict) -> str:
    # ids this world does not create (forums, meetings, KPIs, webhooks…) take 1: the route still parses its input
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path).removeprefix("/api/v1")


def _send(client, method: str, url: str, headers: dict, raw: str) -> int:
    """The status, or 500 when the view raised (the test app propagates exceptions)."""
    try:
        return getattr(client, method)(f"/api/v1{url}", data=raw,
                                       headers={**headers, "Content-Type": "application/json"}).status_code
    except Exception as error:  # noqa: BLE001 — any exception is the 500 this test looks for
        print(f"{method.upper()} {url} {raw[:200]}: {error!r}")
        return 500


def _actor(client, method: str, url: str, actors: list[dict]) -> dict:
    """The first of admin, reviewer, contributor for whom the route exists (an empty body is not a 404)."""
    for headers in actors:
        if _send(client, method, url, headers, "{}") != 404:
            return headers
    return actors[0]


def test_no_json_value_on_any_write_route_is_a_500(client, fuzz_world):
    routes = json_write_routes(client)
    assert len(routes) >= 20 and sum(len(fields) for _, _, fields in routes) >= 80
    failures = []
    for method, path, fields in routes:
        url = _url(path, fuzz_world["ids"])
        headers = _actor(client, method, url, fuzz_world["actors"])
        base = {name: _plausible(schema) for name, schema in fields.items() if name != "csrf_token"}
        for name in base:
            for value in WRONG:
                if _send(client, method, url, headers, json.dumps({**base, name: value})) >= 500:
                    failures.append((method, path, name, value))
        for body in ([], "x", 7, None, [base]):
            if _send(client, method, url, headers, json.dumps(body)) >= 500:
                failures.append((method, path, "body", body))
        for number in NON_FINITE:
            for name in list(base)[:3]:
                raw = json.dumps({**base, name: "@"}).replace('"@"', number)
                status = _send(client, method, url, headers, raw)
                placeholder = any(name not in fuzz_world["ids"] for name in re.findall(r"\{(\w+)\}", path))
                if status != 422 and not (placeholder and status == 404):  # a missing object never reads the body
                    failures.append((method, path, name, number, status))
    assert failures == []


def test_a_review_decision_of_the_wrong_type_is_422(client, evidence_world):
    w = evidence_world
    item = w.upload(w.request()).get_json()
    for decision in ([], {}, ["accept"], {"accept": True}, 1, None):
        response = client.post(f"/api/v1/evidence/{item['id']}/review", json={"decision": decision},
                               headers=w.auth(w.reviewer))
        assert response.status_code == 422, (decision, response.get_data(as_text=True))
        assert response.get_json()["error"]["field"] == "decision"
    assert client.get(f"/api/v1/evidence/{item['id']}", headers=w.auth(w.reviewer)).get_json()["status"] == \
        "submitted"


def test_date_times_at_the_offset_limits_are_422(client, evidence_world):
    w = evidence_world
    url = f"/api/v1/engagements/{w.engagement.id}"
    for when in (LATE, EARLY, "9999-12-31T23:59:59.999999+00:00"):
        incident = client.post(f"{url}/incidents", headers=w.auth(w.admin), json={
            "title": "Outage", "category": "operational_disruption", "occurred_at": when, "aware_at": when,
            "aware_party": "client"})
        change = client.post(f"{url}/changes", headers=w.auth(w.admin), json={
            "title": "New site", "kind": "new_site", "occurred_at": when})
        for response in (incident, change):
            assert response.status_code == 422, (when, response.get_data(as_text=True))
        events = client.get(f"/api/v1/audit-events?from={when}&to={when}", headers=w.auth(w.admin))
        assert events.status_code == 422, (when, events.get_data(as_text=True))


def test_non_finite_clock_settings_are_422_and_change_nothing(client, evidence_world):
    w = evidence_world
    url = f"/api/v1/engagements/{w.engagement.id}/clock-settings"
    before = client.get(url, headers=w.auth(w.admin)).get_json()
    for raw in ('{"contract_notice_hours": Infinity}', '{"pci_acquirer_hours": NaN}',
                '{"contract_notice_hours": 1e999}', '{"contract_notice_hours": -Infinity}'):
        response = client.post(url, data=raw, headers={**w.auth(w.admin), "Content-Type": "application/json"})
        assert response.status_code == 422, (raw, response.get_data(as_text=True))
    assert client.get(url, headers=w.auth(w.admin)).get_json() == before
