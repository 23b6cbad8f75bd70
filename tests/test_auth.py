"""Sign-in, passwords, lock-out, API tokens, CSRF and security headers."""
import datetime as dt
import json
import re
from email.utils import parsedate_to_datetime

import pytest
from flask import Flask

from domain.errors import Conflict, ValidationError
from models import ApiToken, AuditEvent, LoginAttempt, Organisation, User, utcnow
from services.people import accounts
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
        == accounts.LOCKOUT_FAILURES  # noqa: E712 -- the refused attempt while locked is not counted


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


# ---------------------------------------------------------------- open redirect after sign-in

def _csrf(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login_with_next(client, user, next_url):
    return client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": _csrf(client),
                                       "next": next_url})


@pytest.mark.parametrize("next_url", [
    "/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\r\nSet-Cookie: a=b", "/ /evil.example",
    "/\x0b/evil.example", "/\u2028/evil.example", "\t//evil.example", " //evil.example", "//evil.example",
    "///evil.example", "/\\evil.example", "\\\\evil.example", "\\/evil.example", "https://evil.example/",
    "http:/evil.example", "javascript:alert(1)", "evil.example", "", "?x=1", "/engagements\x7f",
])
def test_every_open_redirect_bypass_falls_back_to_the_home_page(client, make_user, next_url):
    response = _login_with_next(client, make_user("client_admin"), next_url)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("next_url", ["/engagements", "/engagements/3?tab=evidence#top", "/library"])
def test_a_local_next_page_is_kept(client, make_user, next_url):
    response = _login_with_next(client, make_user("client_admin"), next_url)
    assert response.status_code == 302
    assert response.headers["Location"] == next_url


# ---------------------------------------------------------------- lock-out

def _failures(email=None):
    query = LoginAttempt.select().where(LoginAttempt.success == False)  # noqa: E712
    return query.where(LoginAttempt.email == email).count() if email else query.count()


def test_attempts_while_locked_out_are_not_counted_but_are_audited(client, make_user):
    user = make_user("client_admin")
    for _ in range(accounts.LOCKOUT_FAILURES):
        login(client, user, "wrong-password-xyz")
    before = AuditEvent.select().where(AuditEvent.action == "auth.login_failed").count()
    for password in ("wrong-password-xyz", PASSWORD, PASSWORD):
        response = login(client, user, password)
        assert response.status_code == 401
        assert "Too many failed sign-ins" in response.get_data(as_text=True)
    assert _failures(user.email) == accounts.LOCKOUT_FAILURES
    events = list(AuditEvent.select().where(AuditEvent.action == "auth.login_failed").order_by(AuditEvent.id))
    assert len(events) == before + 3
    assert all(json.loads(e.details) == {"locked_out": True} for e in events[before:])


def test_the_lock_ends_with_its_window_however_often_a_locked_account_is_tried(client, make_user):
    user = make_user("client_admin")
    for _ in range(accounts.LOCKOUT_FAILURES):
        login(client, user, "wrong-password-xyz")
    LoginAttempt.update(at=utcnow() - dt.timedelta(minutes=14)).execute()
    for _ in range(accounts.LOCKOUT_FAILURES):  # someone keeps hammering the locked account
        assert login(client, user, "wrong-password-xyz").status_code == 401
    for attempt in LoginAttempt.select():  # two minutes pass
        LoginAttempt.update(at=attempt.at - dt.timedelta(minutes=2)).where(LoginAttempt.id == attempt.id).execute()
    assert login(client, user).status_code == 302


def _stuff_from(ip, count):
    LoginAttempt.insert_many([{"email": f"victim{n}@bank.example", "ip": ip, "success": False, "at": utcnow()}
                              for n in range(count)]).execute()


def test_the_per_ip_lock_says_so(client, make_user):
    user = make_user("client_admin")
    _stuff_from("127.0.0.1", accounts.IP_FAILURES)
    response = login(client, user)
    assert response.status_code == 401
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    assert _failures() == accounts.IP_FAILURES  # the refused attempt was not counted
    event = AuditEvent.select().where(AuditEvent.action == "auth.login_failed").get()
    assert json.loads(event.details) == {"locked_out": True}


def test_the_per_ip_lock_allows_a_busy_office(client, make_user):
    user = make_user("client_admin")
    assert accounts.IP_FAILURES == 100
    _stuff_from("127.0.0.1", 99)
    assert login(client, user).status_code == 302


def test_x_forwarded_for_is_ignored_without_trusted_proxies(client, make_user):
    user = make_user("client_admin")
    client.post("/login", headers={"X-Forwarded-For": "203.0.113.9"},
                data={"email": user.email, "password": "wrong-password-xyz", "csrf_token": _csrf(client)})
    assert [a.ip for a in LoginAttempt.select()] == ["127.0.0.1"]


def _ip_app(proxies: int) -> Flask:
    from web import auth, security
    from web.auth import client_ip
    app = Flask("ip_test")
    app.config.update(SECRET_KEY="x", TRUSTED_PROXIES=proxies)
    security.init_app(app)
    auth.init_app(app)
    app.add_url_rule("/ip", "ip", lambda: client_ip())
    return app


@pytest.mark.parametrize("proxies, forwarded, expected", [
    (0, "203.0.113.9", "10.0.0.1"),
    (1, "203.0.113.9", "203.0.113.9"),
    (1, "198.51.100.7, 203.0.113.9", "203.0.113.9"),  # a client-sent entry on the left is not believed
    (2, "198.51.100.7, 203.0.113.9", "198.51.100.7"),
])
def test_trusted_proxies_decides_whose_x_forwarded_for_is_believed(proxies, forwarded, expected):
    client = _ip_app(proxies).test_client()
    response = client.get("/ip", headers={"X-Forwarded-For": forwarded}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert response.get_data(as_text=True) == expected


# ---------------------------------------------------------------- sessions

def _logout(client):
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def test_a_copied_session_cookie_is_dead_after_sign_out(app, client, make_user):
    user = make_user("client_admin")
    login(client, user)
    assert client.get("/").status_code == 200
    stolen = client.get_cookie("session").value
    _logout(client)
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert replay.get("/api/v1/engagements").status_code == 401


def test_sign_out_ends_the_session_in_every_browser(app, client, make_user):
    user = make_user("client_admin")
    other = app.test_client()
    login(client, user)
    login(other, user)
    _logout(client)
    assert other.get("/").status_code == 302
    assert other.get("/api/v1/engagements").status_code == 401


def test_end_sessions_signs_the_user_out(client, make_user):
    user = make_user("client_admin")
    login(client, user)
    assert client.get("/api/v1/engagements").status_code == 200
    accounts.end_sessions(user)
    assert client.get("/api/v1/engagements").status_code == 401
    assert login(client, user).status_code == 302  # signing in again works
    assert client.get("/").status_code == 200


def test_the_session_id_carries_a_nonce_that_must_match(make_user):
    from web.auth import _load_user
    user = make_user("client_admin")
    other = make_user("client_admin")
    assert re.fullmatch(r"[0-9a-f]{32}", user.session_nonce) and user.session_nonce != other.session_nonce
    assert user.get_id() == f"{user.id}:{user.session_nonce}"
    assert _load_user(user.get_id()) == user
    for stale in (str(user.id), f"{user.id}:", f"{user.id}:{other.session_nonce}", f"{other.id}:{user.session_nonce}",
                  f"{user.id}:{user.session_nonce}x", "x:y", ""):
        assert _load_user(stale) is None
    User.update(active=False).where(User.id == user.id).execute()
    assert _load_user(user.get_id()) is None


def test_sessions_expire_after_eight_hours(app, client, make_user):
    response = login(client, make_user("client_admin"))
    assert app.permanent_session_lifetime == dt.timedelta(hours=8)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    assert abs(expires - (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8))) < dt.timedelta(minutes=1)


# ---------------------------------------------------------------- NUL and control characters

@pytest.mark.parametrize("url", ["/login?q=%00", "/login?%00=1", "/login?next=/a%00b"])
def test_nul_in_the_query_string_is_a_400_page(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert "text/html" in response.headers["Content-Type"]


@pytest.mark.parametrize("query", ["q=%00", "q=a%00b", "a%00=1"])
def test_nul_in_an_api_query_string_is_a_400_json(client, make_user, query):
    response = client.get(f"/api/v1/engagements?{query}", headers=bearer(make_user("client_admin")))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("field", ["email", "password", "next", "x\x00"])
def test_nul_in_a_form_field_is_a_400(client, make_user, field):
    user = make_user("client_admin")
    data = {"email": user.email, "password": PASSWORD, "next": "/library", "csrf_token": _csrf(client)}
    data[field] = data[field] + "\x00" if field in data else "1"  # a NUL in the value, or in the key
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert client.get("/").status_code == 302
    assert LoginAttempt.select().count() == 0


@pytest.mark.parametrize("email", ["a\x00b@bank.example", "a\x01@bank.example", "a\x1b[31m@bank.example",
                                   "a\u202e@bank.example", "a@bank.example\x7f"])
def test_control_characters_in_a_login_email_are_a_plain_failure(library, email):
    assert accounts.authenticate(email, PASSWORD, "127.0.0.1") is None
    stored = LoginAttempt.get().email
    assert stored.isprintable() and "\\" in stored


def test_control_characters_in_a_login_email_do_not_reach_the_audit_log(client):
    response = client.post("/login", data={"email": "a\x01@bank.example", "password": "x", "csrf_token": _csrf(client)})
    assert response.status_code == 401
    event = AuditEvent.select().where(AuditEvent.action == "auth.login_failed").get()
    assert event.actor_email.isprintable() and LoginAttempt.get().email.isprintable()


@pytest.mark.parametrize("email", ["a\x01@bank.example", "a\u200b@bank.example", "a\x7f@bank.example"])
def test_control_characters_in_a_new_users_email_are_refused(library, email):
    with pytest.raises(ValidationError):
        accounts.create_user(email, "client_admin", "Bank A", PASSWORD)


# ---------------------------------------------------------------- cache headers

def test_pages_for_signed_in_users_are_not_cached(client, make_user):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")
    login(client, make_user("client_admin"))
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/attest.css").headers.get("Cache-Control", "")


@pytest.mark.parametrize("signed_in", [False, True])
def test_api_responses_are_not_cached_and_vary_on_credentials(client, make_user, signed_in):
    headers = {}
    if signed_in:
        headers = bearer(make_user("client_admin"))
    response = client.get("/api/v1/engagements", headers=headers)
    assert response.status_code == (200 if signed_in else 401)
    assert response.headers["Cache-Control"] == "no-store"
    vary = {v.strip().lower() for v in response.headers.get("Vary", "").split(",")}
    assert {"authorization", "cookie"} <= vary


def test_parallel_guesses_get_no_more_answers_than_the_lock_allows(make_user):
    """Twelve wrong passwords at once, each past the first lock check before any is recorded: only
    LOCKOUT_FAILURES are counted and answered as wrong; the rest are refused as locked out, not counted."""
    import threading

    from models import db
    user = make_user("client_admin")
    barrier, results = threading.Barrier(12), []

    def guess(k: int) -> None:
        db.connect(reuse_if_open=True)
        try:
            barrier.wait()
            results.append(accounts.sign_in(user.email, f"wrong-guess-{k:04d}", ip="198.51.100.7"))
        finally:
            db.close()

    threads = [threading.Thread(target=guess, args=(k,)) for k in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 12 and all(r.user is None for r in results)
    assert sum(not r.locked_out for r in results) == accounts.LOCKOUT_FAILURES
    assert _failures(user.email) == accounts.LOCKOUT_FAILURES
    assert accounts.sign_in(user.email, PASSWORD).locked_out
