"""OpenID Connect sign-in against a real OpenID provider (oidc-provider on loopback): the e-mail-first
routing, the code flow with PKCE, state and nonce, the group → role map, and every refusal (forged or
replayed answers, deactivated users, other tenants' domains and users, roles of the other side), each
audited and changing nothing."""
from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from conftest import PASSWORD, bearer, login
from fixtures.identity import CLIENT_ID, CLIENT_SECRET, running_provider, signing_key
from fixtures.ports import free_port
from joserfc import jwt
from joserfc.jwk import RSAKey

from models import AuditEvent, SsoConfig, SsoFlow, User
from services.identity import oidc, sso
from services.people import users as people_users

DOMAIN = "bank-sso.example"


@pytest.fixture
def bank(make_user, oidc_idp, client):
    """A client organisation with OIDC on (users created on first sign-in, passwords off) and its admin."""
    admin = make_user("client_admin", org="Bank SSO", email=f"admin@{DOMAIN}")
    settings = {"protocol": "oidc", "enabled": True, "issuer": oidc_idp.issuer, "client_id": oidc_idp.client_id,
                "client_secret": oidc_idp.client_secret, "domains": [DOMAIN], "group_claim": "groups",
                "group_roles": {"attest-admins": "client_admin", "staff": "risk_reviewer"},
                "default_role": "risk_reviewer", "create_users": True, "password_allowed": False}
    response = client.put(f"/api/v1/organisations/{admin.organisation_id}/sso", json=settings, headers=bearer(admin))
    assert response.status_code == 200, response.get_json()
    return admin


def _start(client, email: str) -> str:
    """The e-mail-first sign-in: the page that sends the browser on, then the redirect to the IdP."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    routed = client.post("/login", data={"email": email, "password": "", "csrf_token": token})
    assert routed.status_code == 200
    target = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', routed.get_data(as_text=True)).group(1)
    to_idp = client.get(target.replace("&amp;", "&"))
    assert to_idp.status_code == 302
    return to_idp.headers["Location"]


def _callback(client, oidc_idp, account: str, email: str | None = None):
    email = email or f"{account}@{DOMAIN}"
    url = _start(client, email)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    back = oidc_idp.sign_in(requests.Session(), url, account)
    parts = urlsplit(back)
    return back, client.get(f"{parts.path}?{parts.query}")


def _refusals(reason: str) -> list[dict]:
    events = AuditEvent.select().where(AuditEvent.action == "auth.login_failed").order_by(AuditEvent.id)
    return [json.loads(e.details) for e in events if json.loads(e.details).get("reason") == reason]


def test_the_settings_keep_the_client_secret_encrypted_and_never_show_it(bank, client, oidc_idp, app):
    shown = client.get(f"/api/v1/organisations/{bank.organisation_id}/sso", headers=bearer(bank))
    assert shown.status_code == 200
    body = shown.get_data(as_text=True)
    assert oidc_idp.client_secret not in body and shown.get_json()["client_secret_set"] is True
    config = SsoConfig.get()
    assert oidc_idp.client_secret not in config.client_secret_enc
    assert sso.decrypt_secret(config, app.config["SECRET_KEY"]) == oidc_idp.client_secret
    assert shown.get_json()["domains"] == [DOMAIN] and shown.get_json()["login_path"].startswith("/sso/")


def test_a_new_user_signs_in_through_the_idp_with_the_mapped_role(bank, client, oidc_idp):
    _, arrived = _callback(client, oidc_idp, "alice")
    assert arrived.status_code == 302 and "/login" not in arrived.headers["Location"]
    alice = User.get(User.email == f"alice@{DOMAIN}")
    assert alice.role == "client_admin" and alice.organisation_id == bank.organisation_id
    assert client.get("/api/v1/engagements").status_code == 200  # signed in
    login_event = AuditEvent.select().where(AuditEvent.action == "auth.login").order_by(AuditEvent.id.desc()).get()
    assert json.loads(login_event.details)["method"] == "oidc" and login_event.actor_id == alice.id


def test_a_group_named_like_a_role_grants_nothing(bank, client, oidc_idp):
    _callback(client, oidc_idp, "carol")  # groups: ["client_admin", "bpo-admins"], neither in the map
    assert User.get(User.email == f"carol@{DOMAIN}").role == "risk_reviewer"  # the default role


def test_a_replayed_state_is_refused_and_audited(bank, client, oidc_idp):
    back, arrived = _callback(client, oidc_idp, "bob")
    assert arrived.status_code == 302
    state = parse_qs(urlsplit(back).query)["state"][0]
    with client.session_transaction() as session:
        session["sso_state"] = state  # even bound to this browser again
    parts = urlsplit(back)
    again = client.get(f"{parts.path}?{parts.query}")
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)
    assert _refusals("replayed")


def test_a_callback_not_started_in_this_browser_is_refused(bank, app, client, oidc_idp):
    url = _start(client, f"bob@{DOMAIN}")
    back = oidc_idp.sign_in(requests.Session(), url, "bob")
    other = app.test_client()  # the attacker's browser, handed the victim's callback link
    parts = urlsplit(back)
    assert other.get(f"{parts.path}?{parts.query}").status_code == 400
    assert _refusals("state_not_bound") and not User.select().where(User.email == f"bob@{DOMAIN}").exists()


def test_password_sign_in_is_refused_for_an_sso_organisation_unless_it_allows_it(bank, client, make_user):
    bob = make_user("risk_reviewer", org="Bank SSO", email=f"bob@{DOMAIN}")
    refused = login(client, bob)
    assert refused.status_code == 401 and "identity provider" in refused.get_data(as_text=True)
    assert _refusals("sso_required")
    client.put(f"/api/v1/organisations/{bank.organisation_id}/sso", json={"password_allowed": True},
               headers=bearer(bank))
    assert login(client, bob, PASSWORD).status_code == 302


def test_a_deactivated_user_is_refused_even_with_a_valid_id_token(bank, client, oidc_idp, make_user):
    bob = make_user("risk_reviewer", org="Bank SSO", email=f"bob@{DOMAIN}")
    people_users.deactivate(bank, bob.id)
    _, arrived = _callback(client, oidc_idp, "bob")
    assert arrived.status_code == 400 and "deactivated" in arrived.get_data(as_text=True)
    assert client.get("/api/v1/engagements").status_code == 401
    assert _refusals("deactivated")


def test_an_address_of_a_domain_the_organisation_does_not_own_is_refused(bank, client, oidc_idp):
    _, arrived = _callback(client, oidc_idp, "mallory", email=f"x@{DOMAIN}")  # the IdP vouches for bpo-sso.example
    assert arrived.status_code == 400
    assert _refusals("domain_not_owned") and not User.select().where(User.email == "mallory@bpo-sso.example").exists()


def test_another_organisations_user_never_signs_in_through_this_idp(bank, client, oidc_idp, make_user):
    outsider = make_user("provider_admin", org="BPO Other", email=f"bob@{DOMAIN}")  # made after the declaration
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    routed = client.post("/login", data={"email": outsider.email, "password": "", "csrf_token": token})
    assert routed.status_code == 200 and "Enter your password" in routed.get_data(as_text=True)  # no SSO: no IdP
    to_idp = client.get(SsoConfig.get().slug.join(("/sso/", "/login")))  # the bank's link, used directly
    back = oidc_idp.sign_in(requests.Session(), to_idp.headers["Location"], "bob")
    arrived = client.get(back.partition("127.0.0.1:5000")[2])
    assert arrived.status_code == 400 and client.get("/api/v1/engagements").status_code == 401
    assert _refusals("other_organisation")
    assert User.get_by_id(outsider.id).role == "provider_admin"


def test_a_domain_is_one_organisations_only(bank, client, make_user):
    other = make_user("provider_admin", org="BPO SSO", email="admin@bpo-sso.example")
    taken = client.put(f"/api/v1/organisations/{other.organisation_id}/sso",
                       json={"protocol": "oidc", "domains": [DOMAIN]}, headers=bearer(other))
    assert taken.status_code == 409 and "another organisation" in taken.get_json()["error"]["message"]
    with_users = client.put(f"/api/v1/organisations/{bank.organisation_id}/sso",
                            json={"domains": [DOMAIN, "bpo-sso.example"]}, headers=bearer(bank))
    assert with_users.status_code == 409
    assert SsoConfig.select().count() == 1  # the other organisation got nothing
    assert AuditEvent.select().where(AuditEvent.action == "sso.settings_refused").count() == 2


def test_a_role_of_the_other_side_cannot_be_mapped(bank, client):
    before = SsoConfig.get().group_roles
    refused = client.put(f"/api/v1/organisations/{bank.organisation_id}/sso",
                         json={"group_roles": {"bpo": "provider_admin"}}, headers=bearer(bank))
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "group_roles"
    assert SsoConfig.get().group_roles == before


def test_another_organisations_settings_answer_404(bank, client, make_user):
    stranger = make_user("client_admin", org="Bank Other", email="admin@bank-other.example")
    for org_id in (bank.organisation_id, 999999):
        assert client.get(f"/api/v1/organisations/{org_id}/sso", headers=bearer(stranger)).status_code == 404
    reviewer = make_user("risk_reviewer", org="Bank SSO", email=f"rr@{DOMAIN}")
    assert client.get(f"/api/v1/organisations/{bank.organisation_id}/sso", headers=bearer(reviewer)).status_code == 404


# ------------------------------------------------------------------------------------------ forged ID tokens

def _flow() -> SsoFlow:
    oidc.begin(SsoConfig.get(), redirect_uri="http://127.0.0.1:5000/sso/oidc/callback")
    return SsoFlow.select().order_by(SsoFlow.id.desc()).get()


def _token(issuer: str, flow: SsoFlow, key: RSAKey, **changes) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "aud": CLIENT_ID, "sub": "alice", "iat": now, "exp": now + 300,
              "nonce": flow.nonce, "email": f"alice@{DOMAIN}", "groups": ["staff"], **changes}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


@pytest.mark.parametrize("changes, reason", [
    ({"aud": "another-client"}, "id_token_invalid"),
    ({"iss": "https://evil.example"}, "id_token_invalid"),
    ({"nonce": "not-the-flows-nonce"}, "id_token_invalid"),
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "id_token_expired"),
    ({"other_key": True}, "id_token_invalid"),
])
def test_a_forged_id_token_is_refused_and_audited(bank, oidc_idp, changes, reason):
    flow = _flow()
    key = signing_key(oidc_idp.key.kid) if changes.pop("other_key", False) else oidc_idp.key  # same kid, not its key
    with pytest.raises(sso.SsoRefused):
        oidc.accept_id_token(flow, _token(oidc_idp.issuer, flow, key, **changes))
    assert _refusals(reason)
    assert not User.select().where(User.email == f"alice@{DOMAIN}").exists()


def test_a_token_signed_by_the_idps_key_with_the_right_claims_is_accepted(bank, oidc_idp):
    """The counterpart of the forgeries above: the checks refuse what is wrong, not everything."""
    flow = _flow()
    user = oidc.accept_id_token(flow, _token(oidc_idp.issuer, flow, oidc_idp.key)).user
    assert user.email == f"alice@{DOMAIN}" and user.role == "risk_reviewer"


def test_keys_the_idp_rotated_are_fetched_again(make_user, client, oidc_callbacks, tmp_path, monkeypatch):
    """The IdP replaces its signing key: a token under the new key is accepted after one fresh fetch of the
    keys, and the retired key no longer verifies anything."""
    monkeypatch.setattr(oidc, "REFRESH_AT_MOST_EVERY", 0)  # the once-a-minute limit would hold the old keys
    port, old, new = free_port(), signing_key("2026-old"), signing_key("2026-new")
    admin = make_user("client_admin", org="Bank Rotate", email=f"admin@{DOMAIN}")
    with running_provider(port, [old], oidc_callbacks, tmp_path / "idp.log") as issuer:
        assert client.put(f"/api/v1/organisations/{admin.organisation_id}/sso", headers=bearer(admin), json={
            "protocol": "oidc", "enabled": True, "issuer": issuer, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "domains": [DOMAIN], "default_role": "risk_reviewer",
            "create_users": True}).status_code == 200
        flow = _flow()
        assert oidc.accept_id_token(flow, _token(issuer, flow, old)).user is not None  # the old keys are cached
    with running_provider(port, [new], oidc_callbacks, tmp_path / "idp.log"):
        flow = _flow()
        assert oidc.accept_id_token(flow, _token(issuer, flow, new)).user is not None
        flow = _flow()
        with pytest.raises(sso.SsoRefused):
            oidc.accept_id_token(flow, _token(issuer, flow, old))


def test_an_unverified_email_is_refused(bank, client, oidc_idp):
    _, arrived = _callback(client, oidc_idp, "unverified", email=f"dave@{DOMAIN}")
    assert arrived.status_code == 400 and _refusals("email_unverified")


# ------------------------------------------------------------------------------------------ the settings page

def _form(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_the_settings_page_saves_and_shows_errors_without_changing_anything(bank, client, oidc_idp):
    client.put(f"/api/v1/organisations/{bank.organisation_id}/sso", json={"password_allowed": True},
               headers=bearer(bank))
    assert login(client, bank).status_code == 302
    path = f"/organisations/{bank.organisation_id}/sso"
    page = client.get(path).get_data(as_text=True)
    assert oidc_idp.client_secret not in page and "A secret is stored" in page and DOMAIN in page
    form = {"csrf_token": _form(client, path), "protocol": "oidc", "issuer": oidc_idp.issuer,
            "client_id": oidc_idp.client_id, "domains": f"{DOMAIN} Bank-SSO2.example", "default_role": "risk_reviewer",
            "group_claim": "groups", "group_roles": "attest-admins = client_admin\nstaff = risk_reviewer",
            "create_users": "1", "enabled": "1"}
    saved = client.post(path, data=form)
    assert saved.status_code == 302
    config = SsoConfig.get()
    assert [d.domain for d in config.domains.order_by(config.domains.model.domain)] == [DOMAIN, "bank-sso2.example"]
    assert config.password_allowed is False and sso.decrypt_secret(config, "test-secret") == oidc_idp.client_secret
    bad = client.post(path, data={**form, "group_roles": "bpo = provider_admin"})
    assert bad.status_code == 422 and "provider side" in bad.get_data(as_text=True)
    assert json.loads(SsoConfig.get().group_roles) == {"attest-admins": "client_admin", "staff": "risk_reviewer"}


def test_only_the_organisations_admin_sees_its_settings_or_tests_its_sign_in(bank, client, make_user):
    slug = SsoConfig.get().slug
    stranger = make_user("client_admin", org="Bank Other", email="admin@bank-other.example")
    login(client, stranger)
    assert client.get(f"/organisations/{bank.organisation_id}/sso").status_code == 404
    assert client.get(f"/sso/{slug}/login?test=1").status_code == 404
    assert client.get("/sso/no-such-organisation/login").status_code == 404
    assert SsoFlow.select().count() == 0


def test_a_sign_in_under_way_when_sso_is_turned_off_is_refused(bank, client, oidc_idp):
    url = _start(client, f"alice@{DOMAIN}")
    client.put(f"/api/v1/organisations/{bank.organisation_id}/sso", json={"enabled": False}, headers=bearer(bank))
    back = urlsplit(oidc_idp.sign_in(requests.Session(), url, "alice"))
    assert client.get(f"{back.path}?{back.query}").status_code == 400
    assert _refusals("sso_off") and not User.select().where(User.email == f"alice@{DOMAIN}").exists()


def test_an_unreachable_idp_is_a_clear_error(make_user, client):
    admin = make_user("client_admin", org="Bank Down", email="admin@bank-down.example")
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert client.put(f"/api/v1/organisations/{admin.organisation_id}/sso", headers=bearer(admin), json={
        "protocol": "oidc", "enabled": True, "issuer": issuer, "client_id": "x", "client_secret": "y",
        "domains": ["bank-down.example"]}).status_code == 200
    response = client.get(f"/sso/{SsoConfig.get().slug}/login")
    assert response.status_code == 502 and "could not be reached" in response.get_data(as_text=True)
    assert SsoFlow.select().count() == 0
