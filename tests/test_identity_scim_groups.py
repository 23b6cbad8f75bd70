"""SCIM groups give roles through the organisation's group → role map (the one OIDC and SAML sign-ins use):
joining a mapped group grants its role, leaving every mapped group returns the default role, each change in
the audit trail; a role of the other side, asked by a ``roles`` value or through a group, is a 400 in RFC 7644's
error shape, changes nothing and is recorded."""
from __future__ import annotations

import json

import pytest
from test_identity_scim import SCIM, auth, new_user

from models import AuditEvent, ScimGroup, SsoConfig, User
from services.identity import scim

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def bank(make_user):
    admin = make_user("client_admin")
    SsoConfig.create(organisation=admin.organisation_id, slug="bank-a", protocol="oidc", default_role="risk_reviewer",
                     group_claim="groups", group_roles=json.dumps({"GRC Admins": "client_admin",
                                                                   "Risk": "risk_reviewer"}))
    return {"admin": admin, "token": scim.create_token(admin, "Okta")[1]}


def role_of(user: dict) -> str:
    return User.get_by_id(int(user["id"])).role


def role_changes(user: dict) -> list[list[str]]:
    return [json.loads(e.details)["role"] for e in AuditEvent.select().where(
        AuditEvent.action == "user.role_change", AuditEvent.object_id == user["id"]).order_by(AuditEvent.id)]


def test_joining_and_leaving_a_mapped_group_changes_the_role_audited(client, bank):
    token = bank["token"]
    jo, al = new_user(client, token, "jo@bank-a.example"), new_user(client, token, "al@bank-a.example")
    created = client.post("/scim/v2/Groups", headers=auth(token), json={
        "schemas": [GROUP], "displayName": "GRC Admins", "members": [{"value": jo["id"]}]})
    assert created.status_code == 201, created.get_json()
    group = created.get_json()
    assert (role_of(jo), role_of(al)) == ("client_admin", "risk_reviewer")
    [change] = AuditEvent.select().where(AuditEvent.action == "user.role_change", AuditEvent.object_id == jo["id"])
    assert json.loads(change.details)["by"] == "scim group map" and change.actor_email.startswith("scim:")

    added = client.patch(f"/scim/v2/Groups/{group['id']}", headers=auth(token), json={
        "schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": al["id"]}]}]})
    assert added.status_code == 200, added.get_json()
    assert role_of(al) == "client_admin"

    replaced = client.put(f"/scim/v2/Groups/{group['id']}", headers=auth(token), json={
        "schemas": [GROUP], "displayName": "GRC Admins", "members": [{"value": al["id"]}]})
    assert replaced.status_code == 200
    assert (role_of(jo), role_of(al)) == ("risk_reviewer", "client_admin")  # jo left: back to the default

    assert client.delete(f"/scim/v2/Groups/{group['id']}", headers=auth(token)).status_code == 204
    assert role_of(al) == "risk_reviewer"
    assert role_changes(jo) == [["risk_reviewer", "client_admin"], ["client_admin", "risk_reviewer"]]
    assert role_changes(al) == [["risk_reviewer", "client_admin"], ["client_admin", "risk_reviewer"]]


def test_a_group_outside_the_map_changes_no_role(client, bank):
    jo = new_user(client, bank["token"], roles=[{"value": "client_admin"}])
    response = client.post("/scim/v2/Groups", headers=auth(bank["token"]), json={
        "schemas": [GROUP], "displayName": "Everyone", "members": [{"value": jo["id"]}]})
    assert response.status_code == 201 and role_of(jo) == "client_admin" and role_changes(jo) == []


def test_a_roles_value_of_the_other_side_is_refused_400_and_recorded(client, bank):
    token = bank["token"]
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "mal@bank-a.example",
            "roles": [{"value": "provider_admin"}]}
    response = client.post("/scim/v2/Users", json=body, headers=auth(token))
    assert response.status_code == 400 and response.mimetype == SCIM
    error = response.get_json()
    assert error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and error["status"] == "400"
    assert error["scimType"] == "invalidValue" and "provider_admin" in error["detail"]
    assert not User.select().where(User.email == "mal@bank-a.example").exists()

    jo = new_user(client, token)
    patch = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "roles", "value": [{"value": "provider_admin"}]}]}
    assert client.patch(f"/scim/v2/Users/{jo['id']}", json=patch, headers=auth(token)).status_code == 400
    assert role_of(jo) == "risk_reviewer"
    refused = [json.loads(e.details) for e in AuditEvent.select().where(AuditEvent.action == "scim.refused")]
    assert [r["why"] for r in refused] == ["role of the other side"] * 2


def test_a_group_the_map_sends_to_the_other_side_is_refused(client, bank):
    SsoConfig.update(group_roles=json.dumps({"Vendors": "provider_admin"})).execute()  # a map saved long ago
    jo = new_user(client, bank["token"])
    response = client.post("/scim/v2/Groups", headers=auth(bank["token"]), json={
        "schemas": [GROUP], "displayName": "Vendors", "members": [{"value": jo["id"]}]})
    assert response.status_code == 400 and response.get_json()["scimType"] == "invalidValue"
    assert ScimGroup.select().count() == 0 and role_of(jo) == "risk_reviewer"
    assert AuditEvent.select().where(AuditEvent.action == "scim.refused").count() == 1
