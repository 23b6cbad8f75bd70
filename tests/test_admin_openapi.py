"""The administration routes' real responses (users, tokens, engagement and SoA edits) validated against
/api/v1/openapi.json, errors included (the Contract of tests/test_openapi.py)."""
from __future__ import annotations

import pytest
from conftest import bearer

from tests.test_openapi import Contract, payload


@pytest.fixture
def contract(client) -> Contract:
    return Contract(client.get("/api/v1/openapi.json").get_json())


def test_users_and_tokens_responses_match_the_description(client, make_user, contract):
    admin = make_user("client_admin")
    headers = bearer(admin)
    invited = contract.check(client.post("/api/v1/users", json={"email": "n@banka.example", "role": "risk_reviewer",
                                                                "full_name": "N"}, headers=headers),
                             "post", "/api/v1/users")
    contract.check(client.get("/api/v1/users", headers=headers), "get", "/api/v1/users")
    contract.check(client.patch(f"/api/v1/users/{invited['id']}", json={"role": "client_admin"}, headers=headers),
                   "patch", "/api/v1/users/{user_id}")
    gone = contract.check(client.post(f"/api/v1/users/{invited['id']}/deactivate", headers=headers),
                          "post", "/api/v1/users/{user_id}/deactivate")
    assert gone["status"] == "deactivated" and gone["deactivated_at"]
    for status, response, method, path in [
        (409, client.post("/api/v1/users", json={"email": "n@banka.example", "role": "risk_reviewer"},
                          headers=headers), "post", "/api/v1/users"),
        (422, client.post("/api/v1/users", json={"email": "m@banka.example", "role": "auditor"}, headers=headers),
         "post", "/api/v1/users"),
        (404, client.get("/api/v1/users", headers=bearer(make_user("risk_reviewer"))), "get", "/api/v1/users"),
        (404, client.post("/api/v1/users/999999/deactivate", headers=headers), "post",
         "/api/v1/users/{user_id}/deactivate"),
        (409, client.post(f"/api/v1/users/{admin.id}/deactivate", headers=headers), "post",
         "/api/v1/users/{user_id}/deactivate"),
        (404, client.post("/api/v1/users/999999/reactivate", headers=headers), "post",
         "/api/v1/users/{user_id}/reactivate"),
        (409, client.post(f"/api/v1/users/{admin.id}/reactivate", headers=headers), "post",
         "/api/v1/users/{user_id}/reactivate"),
        (422, client.patch(f"/api/v1/users/{admin.id}", json={"role": "provider_admin"}, headers=headers), "patch",
         "/api/v1/users/{user_id}"),
    ]:
        assert response.status_code == status, (path, response.get_json())
        contract.check(response, method, path)
    back = contract.check(client.post(f"/api/v1/users/{invited['id']}/reactivate", headers=headers),
                          "post", "/api/v1/users/{user_id}/reactivate")
    assert back["status"] == "invited" and back["deactivated_at"] is None

    token = contract.check(client.post("/api/v1/tokens", json={"name": "ci"}, headers=headers),
                           "post", "/api/v1/tokens")
    contract.check(client.get("/api/v1/tokens", headers=headers), "get", "/api/v1/tokens")
    contract.check(client.delete(f"/api/v1/tokens/{token['id']}", headers=headers),
                   "delete", "/api/v1/tokens/{token_id}")
    contract.check(client.delete("/api/v1/tokens/999999", headers=headers), "delete", "/api/v1/tokens/{token_id}")
    contract.check(client.post("/api/v1/tokens", json={"name": ""}, headers=headers), "post", "/api/v1/tokens")
    contract.check(client.get("/api/v1/tokens"), "get", "/api/v1/tokens")  # 401


def test_edit_responses_match_the_description(client, make_user, contract):
    headers = bearer(make_user("client_admin"))
    created = client.post("/api/v1/engagements", json=payload(start_date="2025-06-01"), headers=headers).get_json()
    path = "/api/v1/engagements/{engagement_id}"
    url = f"/api/v1/engagements/{created['id']}"
    edited = contract.check(client.patch(url, json={"grace_days": 7, "end_date": "2027-12-31"}, headers=headers),
                            "patch", path)
    assert edited["grace_days"] == 7 and edited["end_date"] == "2027-12-31"
    contract.check(client.patch(url, json={"grace_days": 700}, headers=headers), "patch", path)
    contract.check(client.patch("/api/v1/engagements/999999", json={"grace_days": 1}, headers=headers), "patch", path)
    soa = client.get(url + "/applicability?applicable=true&per_page=1", headers=headers).get_json()["items"][0]
    row_path = "/api/v1/engagements/{engagement_id}/applicability/{code}"
    row = contract.check(client.patch(f"{url}/applicability/{soa['control']}",
                                      json={"applicable": False, "justification": "Out of scope by contract."},
                                      headers=headers), "patch", row_path)
    assert row["applicable"] is False and row["edited_by"]
    contract.check(client.patch(f"{url}/applicability/{soa['control']}", json={"frequency_override": "often"},
                                headers=headers), "patch", row_path)
    contract.check(client.patch(f"{url}/applicability/NOPE", json={"applicable": True}, headers=headers),
                   "patch", row_path)
    contract.check(client.get(url + "/applicability?per_page=200", headers=headers), "get", path + "/applicability")
    contract.check(client.get(url + "/requests?status=retired", headers=headers), "get", path + "/requests")
