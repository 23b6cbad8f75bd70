"""SCIM 2.0 at /scim/v2: an organisation's token provisions its own users and groups and nothing else;
``active: false`` ends sessions and tokens at once; filters and pagination; and scim2-tester, an independent
conformance suite, run against the app served on loopback."""
from __future__ import annotations

import pytest
from conftest import bearer, login

from models import AuditEvent, ScimToken, User
from services.identity import scim
from services.people.accounts import hash_password

SCIM = "application/scim+json"


@pytest.fixture
def bank(make_user):
    admin = make_user("client_admin")
    return {"admin": admin, "token": scim.create_token(admin, "Okta")[1]}


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": SCIM}


def new_user(client, token, email="jo@bank-a.example", **extra) -> dict:
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
            "name": {"givenName": "Jo", "familyName": "Bloggs"}, "externalId": f"ext-{email}", "active": True, **extra}
    response = client.post("/scim/v2/Users", json=body, headers=auth(token))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_read_filter_replace_and_paginate_users(client, bank):
    token = bank["token"]
    jo = new_user(client, token)
    assert jo["userName"] == "jo@bank-a.example" and jo["active"] is True and jo["meta"]["resourceType"] == "User"
    account = User.get_by_id(int(jo["id"]))
    assert account.role == "risk_reviewer" and account.password_hash == "" and account.full_name == "Jo Bloggs"
    again = client.post("/scim/v2/Users", json={"userName": "JO@bank-a.example"}, headers=auth(token))
    assert again.status_code == 409 and again.get_json()["scimType"] == "uniqueness"  # a double submit
    found = client.get('/scim/v2/Users?filter=userName eq "jo@bank-a.example"', headers=auth(token)).get_json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == jo["id"]
    for n in range(3):
        new_user(client, token, f"user{n}@bank-a.example")
    page = client.get("/scim/v2/Users?startIndex=2&count=2", headers=auth(token)).get_json()
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and page["itemsPerPage"] == 2  # the admin too
    replaced = client.put(f"/scim/v2/Users/{jo['id']}", headers=auth(token), json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "jo@bank-a.example",
        "displayName": "Jo B.", "roles": [{"value": "client_admin"}]}).get_json()
    assert replaced["displayName"] == "Jo B." and "externalId" not in replaced
    assert User.get_by_id(account.id).role == "client_admin"
    bad = client.get('/scim/v2/Users?filter=name co "x"', headers=auth(token))
    assert bad.status_code == 400 and bad.get_json()["scimType"] == "invalidFilter"


def test_active_false_ends_sessions_and_tokens_at_once(client, app, bank):
    token = bank["token"]
    jo = new_user(client, token, roles=[{"value": "Employee"}])  # no Attest role: the side's least privileged
    account = User.get_by_id(int(jo["id"]))
    assert account.role == "risk_reviewer"
    account.password_hash = hash_password("Correct-Horse-9x")
    account.save()
    browser = app.test_client()
    login(browser, account, "Correct-Horse-9x")
    assert browser.get("/").status_code == 200
    api = bearer(account)
    assert client.get("/api/v1/engagements", headers=api).status_code == 200
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "active", "value": False}]}
    response = client.patch(f"/scim/v2/Users/{jo['id']}", json=patch, headers=auth(token))
    assert response.status_code == 200 and response.get_json()["active"] is False
    assert client.get("/api/v1/engagements", headers=api).status_code == 401
    assert browser.get("/", follow_redirects=False).status_code in (302, 401)
    assert AuditEvent.select().where(AuditEvent.action == "user.deactivate",
                                     AuditEvent.object_id == account.id).exists()


def test_another_organisations_token_cannot_touch_a_user_or_group(client, bank, make_user):
    jo = new_user(client, bank["token"])
    group = client.post("/scim/v2/Groups", headers=auth(bank["token"]), json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Risk",
        "members": [{"value": jo["id"]}]})
    assert group.status_code == 201
    other = scim.create_token(make_user("provider_admin", org="BPO Z"), "Azure")[1]
    missing = client.get("/scim/v2/Users/999999", headers=auth(other))
    for method in ("get", "put", "patch", "delete"):
        response = getattr(client, method)(f"/scim/v2/Users/{jo['id']}", headers=auth(other),
                                           json={"userName": "x@y.example", "Operations": []})
        assert response.status_code == 404 and response.get_json()["detail"].endswith("not found")
    assert missing.status_code == 404
    assert client.get(f"/scim/v2/Groups/{group.get_json()['id']}", headers=auth(other)).status_code == 404
    stolen = client.post("/scim/v2/Groups", headers=auth(other), json={"displayName": "Mine",
                                                                       "members": [{"value": jo["id"]}]})
    assert stolen.status_code == 400 and stolen.get_json()["scimType"] == "invalidValue"
    listed = client.get("/scim/v2/Users", headers=auth(other)).get_json()
    assert jo["id"] not in {r["id"] for r in listed["Resources"]}
    assert User.get_by_id(int(jo["id"])).active
    refused = AuditEvent.select().where(AuditEvent.action == "scim.refused")
    assert refused.count() == 5 and {e.object_id for e in refused} == {jo["id"], group.get_json()["id"]}


@pytest.mark.parametrize("header", ["", "Bearer ", "Bearer nope", "Basic abc"])
def test_no_or_a_bad_token_is_401(client, bank, header):
    response = client.get("/scim/v2/Users", headers={"Authorization": header})
    assert response.status_code == 401 and response.mimetype == SCIM


def test_a_revoked_token_stops_at_once_and_a_session_is_not_a_scim_token(client, bank):
    row = ScimToken.get()
    scim.revoke_token(bank["admin"], row.id)
    assert client.get("/scim/v2/Users", headers=auth(bank["token"])).status_code == 401
    assert client.get("/scim/v2/Users", headers=bearer(bank["admin"])).status_code == 401  # an API token is not one


def test_scim2_tester_passes_against_the_live_server(live_server, bank):
    import httpx2
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import Status, check_server
    http = httpx2.Client(base_url=f"{live_server}/scim/v2", headers={"Authorization": f"Bearer {bank['token']}"})
    client = SyncSCIMClient(http)
    client.discover()
    results = check_server(client)
    failed = [(r.title, r.reason) for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    assert results and not failed, "\n".join(f"{t}: {r}" for t, r in failed)


def test_create_scim_token_prints_a_working_token_last(app, client, make_user):
    admin = make_user("provider_admin", org="BPO Q")
    result = app.test_cli_runner().invoke(args=["create-scim-token", "--org", "BPO Q"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    listed = client.get("/scim/v2/Users", headers=auth(token)).get_json()
    assert [r["userName"] for r in listed["Resources"]] == [admin.email]
    missing = app.test_cli_runner().invoke(args=["create-scim-token", "--org", "Nobody Ltd"])
    assert missing.exit_code == 1 and ScimToken.select().count() == 1


@pytest.mark.parametrize("body", [
    {"Operations": [{"op": "replace", "path": "nope[[", "value": 1}]},
    {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "explode", "path": "x"}]},
    {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations": [{"op": "replace", "path": "emails[type eq \"work\"].value", "value": {"deep": [1]}}]},
    {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove"}]},
    {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
     "Operations": [{"op": "add", "path": "active", "value": "maybe"}]},
    [], "text", {"Operations": None},
])
def test_bad_patches_are_400_and_change_nothing(client, bank, body):
    jo = new_user(client, bank["token"])
    before = client.get(f"/scim/v2/Users/{jo['id']}", headers=auth(bank["token"])).get_json()
    response = client.patch(f"/scim/v2/Users/{jo['id']}", json=body, headers=auth(bank["token"]))
    assert response.status_code == 400, response.get_json()
    assert client.get(f"/scim/v2/Users/{jo['id']}", headers=auth(bank["token"])).get_json() == before


@pytest.mark.parametrize("query", ['filter=userName eq "\\x"', "filter=userName eq", "startIndex=x", "count=-1&x=1"])
def test_bad_queries_are_400_not_500(client, bank, query):
    response = client.get(f"/scim/v2/Users?{query}", headers=auth(bank["token"]))
    assert response.status_code in (200, 400) and response.mimetype == SCIM
    if "count=-1" in query:
        assert response.get_json()["itemsPerPage"] == 0
