"""Sign-in, passwords, lock-out, API tokens, CSRF and security headers."""
import re

import pytest

from domain.errors import Conflict, ValidationError
from models import ApiToken, AuditEvent, LoginAttempt, Organisation, User
from services import accounts
from tests.conftest import PASSWORD, bearer, login


def test_passwords_are_stored_as_argon2id(make_user):
    user = make_user("risk_reviewer")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_sign_in_and_out(client, make_user):
    user = make_user("client_admin")
    response = login(client, user)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert AuditEvent.select().where(AuditEvent.action == "auth.login", AuditEvent.actor == user).count() == 1
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302  # back to the login page


def test_wrong_password_is_refused_and_logged(client, make_user):
    user = make_user("client_admin")
    response = login(client, user, "not-the-password-123")
    assert response.status_code == 401
    assert "not right" in response.get_data(as_text=True)
    assert AuditEvent.select().where(AuditEvent.action == "auth.login_failed").count() == 1
    assert client.get("/").status_code == 302


def test_lockout_after_repeated_failures_even_with_the_right_password(client, make_user):
    user = make_user("provider_contributor")
    for _ in range(accounts.LOCKOUT_FAILURES):
        login(client, user, "wrong-password-xyz")
    response = login(client, user)
    assert response.status_code == 401
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    # the count lives in the database, so every app process sees it
    assert LoginAttempt.select().where(LoginAttempt.email == user.email, LoginAttempt.success == False).count() \
        == accounts.LOCKOUT_FAILURES + 1  # noqa: E712


def test_login_without_csrf_token_is_refused(client, make_user):
    user = make_user("client_admin")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_open_redirect_after_login_is_refused(client, make_user):
    user = make_user("client_admin")
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token,
                                           "next": "//evil.example/"})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("password", ["", "   ", "short1!", "passwordpassword", "aaaaaaaaaaaaaaaa"])
def test_weak_passwords_are_refused_and_nothing_is_created(library, password):
    with pytest.raises(ValidationError):
        accounts.create_user("new@bank.example", "risk_reviewer", "New Bank", password)
    assert not User.select().where(User.email == "new@bank.example").exists()
    assert not Organisation.select().where(Organisation.name == "New Bank").exists()


def test_duplicate_users_are_refused(make_user):
    user = make_user("client_admin")
    with pytest.raises(Conflict):
        accounts.create_user(user.email.upper(), "client_admin", "Bank A", PASSWORD)


def test_create_user_makes_the_organisation_of_the_kind_the_role_implies(library):
    accounts.create_user("a@audit.example", "auditor", "Audit Co", PASSWORD)
    assert Organisation.get(Organisation.name == "Audit Co").kind == "audit_firm"
    with pytest.raises(ValidationError):  # an audit firm cannot employ a provider contributor
        accounts.create_user("b@audit.example", "provider_contributor", "Audit Co", PASSWORD)


def test_api_token_is_shown_once_and_only_its_hash_is_stored(client, make_user):
    user = make_user("risk_reviewer")
    token = accounts.create_token(user)
    assert not ApiToken.select().where(ApiToken.token_hash == token).exists()
    assert client.get("/api/v1/engagements", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("header", ["Bearer att_unknown", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 500])
def test_bad_tokens_get_401_json(client, header):
    response = client.get("/api/v1/engagements", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorised"


def test_revoked_token_is_refused(client, make_user):
    user = make_user("risk_reviewer")
    headers = bearer(user)
    assert client.get("/api/v1/engagements", headers=headers).status_code == 200
    accounts.revoke_tokens(user)
    assert client.get("/api/v1/engagements", headers=headers).status_code == 401


def test_no_credentials_is_401(client):
    response = client.get("/api/v1/frameworks")
    assert response.status_code == 401


def test_session_writes_to_the_api_need_csrf(client, make_user):
    user = make_user("client_admin")
    login(client, user)
    response = client.post("/api/v1/engagements", json={"name": "x"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf"


def test_security_headers(client):
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_session_cookie_is_httponly(client, make_user):
    response = login(client, make_user("client_admin"))
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
