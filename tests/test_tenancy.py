"""Tenancy: a user sees an engagement only through its organisation or an active grant; else 404."""
import datetime as dt
import json

import pytest

from models import AuditorGrant, utcnow
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer

BASE = {"frameworks": ["ISO27001-2022", "CPS234", "PCIDSS-4.0.1"], "place": "NSW", "start_date": "2026-01-01",
        "card_payments": True}


@pytest.fixture
def world(make_user):
    """Two clients, two providers, one engagement each, one user per role on each side."""
    users = {
        "a_admin": make_user("client_admin", org="Bank A"), "a_risk": make_user("risk_reviewer", org="Bank A"),
        "b_admin": make_user("client_admin", org="Bank B"),
        "pa_admin": make_user("provider_admin", org="BPO A"),
        "pa_agent": make_user("provider_contributor", org="BPO A"),
        "pb_agent": make_user("provider_contributor", org="BPO B"),
        "auditor": make_user("auditor", org="Audit Firm"),
    }
    ea = create_accepted_engagement(users["a_admin"], {**BASE, "name": "A services", "provider": "BPO A"})
    eb = create_accepted_engagement(users["b_admin"], {**BASE, "name": "B services", "provider": "BPO B"})
    return users, ea, eb


def grant(auditor, engagement, frameworks, starts=-1, expires=30, revoked=False):
    now = utcnow()
    return AuditorGrant.create(auditor=auditor, engagement=engagement, frameworks=json.dumps(frameworks),
                               starts_at=now + dt.timedelta(days=starts), expires_at=now + dt.timedelta(days=expires),
                               revoked_at=now if revoked else None)


def visible_ids(client, user):
    return {e["id"] for e in client.get("/api/v1/engagements", headers=bearer(user)).get_json()["items"]}


@pytest.mark.parametrize("who,sees_a,sees_b", [
    ("a_admin", True, False), ("a_risk", True, False), ("b_admin", False, True),
    ("pa_admin", True, False), ("pa_agent", True, False), ("pb_agent", False, True), ("auditor", False, False),
])
def test_each_role_sees_only_its_engagements(client, world, who, sees_a, sees_b):
    users, ea, eb = world
    headers = bearer(users[who])
    assert visible_ids(client, users[who]) == {e.id for e, sees in ((ea, sees_a), (eb, sees_b)) if sees}
    for engagement, sees in ((ea, sees_a), (eb, sees_b)):
        for path in ("", "/requests", "/applicability"):
            response = client.get(f"/api/v1/engagements/{engagement.id}{path}", headers=headers)
            assert response.status_code == (200 if sees else 404), (who, engagement.name, path)


def test_out_of_scope_and_missing_look_the_same(client, world):
    users, ea, eb = world
    headers = bearer(users["a_admin"])
    other = client.get(f"/api/v1/engagements/{eb.id}", headers=headers)
    missing = client.get("/api/v1/engagements/999999", headers=headers)
    assert other.status_code == missing.status_code == 404
    assert other.get_json() == missing.get_json()


def test_only_client_admins_create_engagements(client, world):
    users, _, _ = world
    for who in ("a_risk", "pa_admin", "pa_agent", "auditor"):
        response = client.post("/api/v1/engagements", json={**BASE, "name": f"by {who}", "provider": "BPO A"},
                               headers=bearer(users[who]))
        assert response.status_code == 404, who


def test_auditor_with_an_active_grant_sees_only_granted_frameworks(client, world):
    users, ea, eb = world
    grant(users["auditor"], ea, ["PCIDSS-4.0.1"])
    headers = bearer(users["auditor"])
    assert visible_ids(client, users["auditor"]) == {ea.id}
    assert client.get(f"/api/v1/engagements/{eb.id}", headers=headers).status_code == 404
    seen = client.get(f"/api/v1/engagements/{ea.id}/requests?per_page=200", headers=headers).get_json()
    everything = client.get(f"/api/v1/engagements/{ea.id}/requests?per_page=200",
                            headers=bearer(users["a_admin"])).get_json()
    assert 0 < seen["total"] < everything["total"]
    assert client.get(f"/api/v1/engagements/{ea.id}", headers=headers).get_json()["frameworks"] == ["PCIDSS-4.0.1"]
    listed = client.get("/api/v1/engagements", headers=headers).get_json()["items"]
    assert [e["frameworks"] for e in listed] == [["PCIDSS-4.0.1"]]
    pci_controls = {c["code"] for c in client.get("/api/v1/controls?framework=PCIDSS-4.0.1&per_page=200",
                                                  headers=headers).get_json()["items"]}
    assert {r["control"] for r in seen["items"]} <= pci_controls


@pytest.mark.parametrize("kind", ["expired", "revoked", "not_started"])
def test_inactive_grants_give_nothing(client, world, kind):
    users, ea, _ = world
    options = {"expired": {"starts": -10, "expires": -1}, "revoked": {"revoked": True},
               "not_started": {"starts": 2, "expires": 10}}[kind]
    grant(users["auditor"], ea, ["ISO27001-2022"], **options)
    assert client.get(f"/api/v1/engagements/{ea.id}", headers=bearer(users["auditor"])).status_code == 404
    assert visible_ids(client, users["auditor"]) == set()


def test_deactivated_user_loses_access(client, world):
    users, ea, _ = world
    headers = bearer(users["pa_agent"])
    users["pa_agent"].active = False
    users["pa_agent"].save()
    assert client.get(f"/api/v1/engagements/{ea.id}", headers=headers).status_code == 401
