"""API tokens (SPEC §2, §5): named, the secret shown once, last use recorded, revocable by their owner only."""
from __future__ import annotations

import re

from conftest import bearer, login

from models import ApiToken, AuditEvent


def test_create_use_and_revoke_a_named_token(client, make_user):
    user = make_user("risk_reviewer")
    headers = bearer(user)
    created = client.post("/api/v1/tokens", json={"name": "GRC sync"}, headers=headers)
    assert created.status_code == 201
    body = created.get_json()
    secret = body["token"]
    assert body["name"] == "GRC sync" and secret.startswith(body["prefix"]) and body["revoked_at"] is None
    assert not ApiToken.select().where(ApiToken.token_hash == secret).exists()  # only the hash is stored
    mine = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/engagements", headers=mine).status_code == 200
    listed = client.get("/api/v1/tokens", headers=headers).get_json()["items"]
    entry = next(t for t in listed if t["id"] == body["id"])
    assert "token" not in entry and entry["last_used_at"] is not None  # the secret is never shown again
    revoked = client.delete(f"/api/v1/tokens/{body['id']}", headers=headers)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    refused = client.get("/api/v1/engagements", headers=mine)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.delete(f"/api/v1/tokens/{body['id']}", headers=headers).status_code == 200  # no change
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.object_type == "token")]
    assert actions == ["token.create", "token.revoke"]


def test_someone_elses_token_is_not_found(client, make_user):
    owner, other = make_user("risk_reviewer"), make_user("client_admin")
    token = client.post("/api/v1/tokens", json={"name": "mine"}, headers=bearer(owner)).get_json()
    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=bearer(other)).status_code == 404
    assert client.delete("/api/v1/tokens/999999", headers=bearer(other)).status_code == 404
    assert ApiToken.get_by_id(token["id"]).revoked_at is None
    assert token["id"] not in {t["id"] for t in client.get("/api/v1/tokens", headers=bearer(other)).get_json()["items"]}


def test_bad_token_names_are_refused(client, make_user):
    headers = bearer(make_user("risk_reviewer"))
    before = ApiToken.select().count()
    for body, status in (({}, 422), ({"name": ""}, 422), ({"name": "x" * 101}, 422), ({"name": "ci\u200b"}, 422),
                         ({"name": 7}, 422)):
        assert client.post("/api/v1/tokens", json=body, headers=headers).status_code == status, body
    assert client.post("/api/v1/tokens", json={"name": "ci"}, headers=headers).status_code == 201
    duplicate = client.post("/api/v1/tokens", json={"name": "ci"}, headers=headers)
    assert duplicate.status_code == 409 and duplicate.get_json()["error"]["field"] == "name"
    assert ApiToken.select().count() == before + 1


def test_revoke_token_command(app, client, make_user):
    user = make_user("provider_contributor")
    runner = app.test_cli_runner()
    first, second = (runner.invoke(args=["create-token", "--email", user.email, "--name", name]).output.split()[-1]
                     for name in ("laptop", "ci"))
    result = runner.invoke(args=["revoke-token", "--email", user.email, "--name", "laptop"])
    assert result.exit_code == 0 and "revoked 1 token" in result.output
    assert client.get("/api/v1/engagements", headers={"Authorization": f"Bearer {first}"}).status_code == 401
    assert client.get("/api/v1/engagements", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    assert runner.invoke(args=["revoke-token", "--email", user.email, "--name", "laptop"]).exit_code == 1
    assert runner.invoke(args=["revoke-token", "--email", user.email]).exit_code == 0
    assert client.get("/api/v1/engagements", headers={"Authorization": f"Bearer {second}"}).status_code == 401
    assert runner.invoke(args=["revoke-token", "--email", "nobody@x.example"]).exit_code == 1


def test_tokens_page_shows_the_secret_once_and_revokes(client, make_user):
    user = make_user("client_admin")
    login(client, user)
    page = client.get("/tokens").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    created = client.post("/tokens", data={"csrf_token": token, "name": "Laptop"})
    html = created.get_data(as_text=True)
    secret = re.search(r'id="new-token"[^>]*value="(att_[^"]+)"', html).group(1)
    assert created.headers["Cache-Control"] == "no-store"
    assert secret not in client.get("/tokens").get_data(as_text=True)
    row = ApiToken.get(ApiToken.name == "Laptop")
    client.post(f"/tokens/{row.id}/revoke", data={"csrf_token": token})
    assert ApiToken.get_by_id(row.id).revoked_at is not None
    assert client.post("/tokens/999999/revoke", data={"csrf_token": token}).status_code == 404
