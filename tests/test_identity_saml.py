"""SAML 2.0 sign-in against a real pysaml2 IdP (with a certificate made by the test): SP-initiated from the
e-mail-first sign-in, signed assertions only, audience, recipient, NotOnOrAfter and replay checked, and
signature wrapping refused; every refusal audited, nothing changed."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re

import pytest
from conftest import bearer, login
from saml2.xmldsig import DIGEST_SHA1, SIG_RSA_SHA1

from models import AuditEvent, SsoConfig, SsoResponseSeen, User, utcnow
from services.identity import sso

DOMAIN = "bank-saml.example"


@pytest.fixture
def bank(make_user, saml_idp, client):
    admin = make_user("client_admin", org="Bank SAML", email=f"admin@{DOMAIN}")
    settings = {"protocol": "saml", "enabled": True, "idp_metadata": saml_idp.metadata, "domains": [DOMAIN],
                "group_claim": "groups", "group_roles": {"attest-admins": "client_admin"},
                "default_role": "risk_reviewer", "create_users": True, "password_allowed": False}
    response = client.put(f"/api/v1/organisations/{admin.organisation_id}/sso", json=settings, headers=bearer(admin))
    assert response.status_code == 200, response.get_json()
    return admin


def _to_idp(client, email: str) -> str:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    routed = client.post("/login", data={"email": email, "password": "", "csrf_token": token})
    target = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', routed.get_data(as_text=True)).group(1)
    to_idp = client.get(target.replace("&amp;", "&"))
    assert to_idp.status_code == 302 and "SAMLRequest=" in to_idp.headers["Location"]
    return to_idp.headers["Location"]


def _post(client, response: str):
    return client.post("/sso/saml/acs", data={"SAMLResponse": response})


def _refusals(reason: str) -> list[dict]:
    events = AuditEvent.select().where(AuditEvent.action == "auth.login_failed").order_by(AuditEvent.id)
    return [json.loads(e.details) for e in events if json.loads(e.details).get("reason") == reason]


def _nobody(email: str) -> bool:
    return not User.select().where(User.email == email).exists()


def test_the_sp_metadata_names_the_acs(client, bank):
    metadata = client.get("/sso/saml/metadata")
    assert metadata.status_code == 200 and metadata.mimetype == "application/samlmetadata+xml"
    body = metadata.get_data(as_text=True)
    assert "/sso/saml/acs" in body and 'entityID="' in body and "HTTP-POST" in body


def test_bad_idp_metadata_is_refused_and_changes_nothing(client, bank):
    before = SsoConfig.get().idp_metadata
    refused = client.put(f"/api/v1/organisations/{bank.organisation_id}/sso",
                         json={"idp_metadata": "<not-metadata/>"}, headers=bearer(bank))
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "idp_metadata"
    assert SsoConfig.get().idp_metadata == before


def test_a_new_user_signs_in_with_a_signed_assertion_and_the_mapped_role(client, bank, saml_idp):
    url = _to_idp(client, f"erin@{DOMAIN}")
    arrived = _post(client, saml_idp.respond(url, f"erin@{DOMAIN}", ["attest-admins"]))
    assert arrived.status_code == 302, arrived.get_data(as_text=True)
    erin = User.get(User.email == f"erin@{DOMAIN}")
    assert erin.role == "client_admin" and erin.organisation_id == bank.organisation_id
    assert client.get("/api/v1/engagements").status_code == 200
    assert SsoResponseSeen.select().count() == 2  # the response id and the assertion id
    kept = {seen.keep_until for seen in SsoResponseSeen.select()}  # the response's NotOnOrAfter + skew
    assert len(kept) == 1 and utcnow() + sso.RESPONSE_SKEW < kept.pop() < utcnow() + dt.timedelta(hours=1)


def test_a_replayed_response_is_refused(client, bank, saml_idp, app):
    url = _to_idp(client, f"erin@{DOMAIN}")
    response = saml_idp.respond(url, f"erin@{DOMAIN}")
    assert _post(client, response).status_code == 302
    other = app.test_client()
    again = _post(other, response)
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)
    assert _refusals("replayed") and other.get("/api/v1/engagements").status_code == 401


@pytest.mark.parametrize("tamper", ["unsigned", "response_only_signed", "audience", "recipient", "unsolicited"])
def test_a_bad_response_is_refused_and_audited(client, bank, saml_idp, tamper):
    url = _to_idp(client, f"erin@{DOMAIN}")
    options = {"unsigned": {"sign_assertion": False},
               "response_only_signed": {"sign_assertion": False, "sign_response": True},
               "audience": {"audience": "https://another-sp.example/metadata"},
               "recipient": {"destination": "https://another-sp.example/acs"},
               "unsolicited": {"in_response_to": "id-not-one-of-ours"}}[tamper]
    refused = _post(client, saml_idp.respond(url, f"erin@{DOMAIN}", ["attest-admins"], **options))
    assert refused.status_code == 400
    assert _refusals("saml_invalid" if tamper != "unsolicited" else "unknown_state")
    assert _nobody(f"erin@{DOMAIN}") and client.get("/api/v1/engagements").status_code == 401


def _xml(response: str) -> str:
    return base64.b64decode(response).decode()


def _encode(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def test_an_expired_assertion_is_refused(client, bank, saml_idp):
    url = _to_idp(client, f"erin@{DOMAIN}")
    xml = _xml(saml_idp.respond(url, f"erin@{DOMAIN}"))
    expired = re.sub(r'NotOnOrAfter="[^"]+"', 'NotOnOrAfter="2020-01-01T00:00:00Z"', xml)
    assertion_id = re.search(r'<\w+:Assertion[^>]* ID="([^"]+)"', expired).group(1)
    resigned = saml_idp.resign(expired, assertion_id)  # a valid signature over the expired assertion
    assert _post(client, _encode(resigned)).status_code == 400
    assert _refusals("saml_invalid") and _nobody(f"erin@{DOMAIN}")


@pytest.mark.parametrize("wrapping", ["beside", "in_extensions"])
def test_a_wrapped_assertion_is_refused(client, bank, saml_idp, make_user, wrapping):
    """XML signature wrapping: the IdP's signed assertion for a harmless user is kept in the document (so its
    signature still verifies) and an unsigned one for an admin is put where a careless reader looks: beside
    it, or in its place with the same ID while the signed one hides in the response's Extensions."""
    victim = make_user("client_admin", org="Bank SAML", email=f"boss@{DOMAIN}")
    url = _to_idp(client, f"erin@{DOMAIN}")
    xml = _xml(saml_idp.respond(url, f"erin@{DOMAIN}"))
    signed = re.search(r"<(\w+):Assertion.*?</\1:Assertion>", xml, re.S).group(0)
    unsigned = re.sub(r"<(\w+):Signature .*?</\1:Signature>", "", signed, flags=re.S)
    evil = unsigned.replace(f"erin@{DOMAIN}", victim.email)
    if wrapping == "beside":
        wrapped = xml.replace(signed, evil.replace(' ID="', ' ID="evil-', 1) + signed)
    else:
        status = re.search(r"<(\w+):Status>", xml).group(0)
        prefix = status[1:].split(":")[0]
        hidden = f"<{prefix}:Extensions>{signed}</{prefix}:Extensions>"
        wrapped = xml.replace(signed, evil).replace(status, hidden + status)
    refused = _post(client, _encode(wrapped))
    assert refused.status_code == 400
    assert client.get("/api/v1/engagements").status_code == 401
    assert _refusals("saml_invalid") and _nobody(f"erin@{DOMAIN}")
    assert User.get_by_id(victim.id).last_login_at is None


def test_a_sha1_signature_is_refused(client, bank, saml_idp):
    url = _to_idp(client, f"erin@{DOMAIN}")
    response = saml_idp.respond(url, f"erin@{DOMAIN}", sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1)
    refused = _post(client, response)
    assert refused.status_code == 400 and "SHA-256" in refused.get_data(as_text=True)
    assert _refusals("weak_signature") and _nobody(f"erin@{DOMAIN}")


def test_an_address_outside_the_organisations_domains_is_refused(client, bank, saml_idp):
    url = _to_idp(client, f"erin@{DOMAIN}")
    assert _post(client, saml_idp.respond(url, "mallory@elsewhere.example")).status_code == 400
    assert _refusals("domain_not_owned") and _nobody("mallory@elsewhere.example")


def test_garbage_is_a_clear_error_not_a_500(client, bank):
    for body in ("", "not base64 !!", base64.b64encode(b"<x/>").decode(), "A" * 300_000):
        assert _post(client, body).status_code == 400


def test_the_admins_test_sign_in_verifies_and_signs_nobody_in(client, bank, saml_idp):
    client.put(f"/api/v1/organisations/{bank.organisation_id}/sso", json={"password_allowed": True},
               headers=bearer(bank))
    assert login(client, bank).status_code == 302
    to_idp = client.get(f"/sso/{SsoConfig.get().slug}/login?test=1")
    assert to_idp.status_code == 302
    result = _post(client, saml_idp.respond(to_idp.headers["Location"], f"gina@{DOMAIN}", ["attest-admins"]))
    assert result.status_code == 200
    assert re.search(r'id="test-role">client_admin<', result.get_data(as_text=True))
    assert _nobody(f"gina@{DOMAIN}")
    assert AuditEvent.select().where(AuditEvent.action == "sso.test").count() == 1


def test_a_provider_organisations_idp_grants_provider_roles_only(client, make_user, saml_idp):
    admin = make_user("provider_admin", org="BPO SAML", email="admin@bpo-saml.example")
    path = f"/api/v1/organisations/{admin.organisation_id}/sso"
    settings = {"protocol": "saml", "enabled": True, "idp_metadata": saml_idp.metadata,
                "domains": ["bpo-saml.example"], "group_claim": "groups", "create_users": True}
    refused = client.put(path, headers=bearer(admin), json={**settings, "default_role": "client_admin"})
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "default_role"
    assert not SsoConfig.select().exists()
    assert client.put(path, headers=bearer(admin), json={
        **settings, "default_role": "provider_contributor",
        "group_roles": {"bpo-admins": "provider_admin"}}).status_code == 200
    url = _to_idp(client, "hugo@bpo-saml.example")
    asking = saml_idp.respond(url, "hugo@bpo-saml.example", ["client_admin", "risk_reviewer"])  # client roles' names
    assert _post(client, asking).status_code == 302
    assert User.get(User.email == "hugo@bpo-saml.example").role == "provider_contributor"
