"""Browser sessions: an absolute lifetime, rotation at sign-in, a binding to the client
that signed in, and 401s that say which scheme the API takes."""
from __future__ import annotations

import time

from conftest import login

from models import User

UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chromium/140"}


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def test_a_copied_cookie_replayed_from_another_user_agent_is_refused(app, client, make_user):
    user = make_user("risk_reviewer")
    client.environ_base.update(HTTP_USER_AGENT=UA["User-Agent"])
    assert login(client, user).status_code == 302
    assert client.get("/engagements").status_code == 200
    thief = app.test_client()
    thief.set_cookie("session", session_cookie(client))
    thief.environ_base.update(HTTP_USER_AGENT="curl/8.5")
    assert thief.get("/engagements").status_code == 302
    assert thief.get("/api/v1/engagements").status_code == 401
    same = app.test_client()
    same.set_cookie("session", session_cookie(client))
    same.environ_base.update(HTTP_USER_AGENT=UA["User-Agent"])
    assert same.get("/engagements").status_code == 200  # the binding is what refused the thief


def test_sessions_end_eight_hours_after_sign_in_however_busy(app, client, make_user, monkeypatch):
    user = make_user("risk_reviewer")
    login(client, user)
    assert client.get("/engagements").status_code == 200
    signed_in = time.time()
    monkeypatch.setattr(time, "time", lambda: signed_in + 7.9 * 3600)
    assert client.get("/engagements").status_code == 200
    monkeypatch.setattr(time, "time", lambda: signed_in + 8 * 3600 + 5)
    assert client.get("/engagements").status_code == 302
    assert app.config["SESSION_REFRESH_EACH_REQUEST"] is False


def test_sign_in_rotates_the_session_and_may_end_the_others(app, client, make_user):
    user = make_user("risk_reviewer")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker before sign-in"
    login(client, user)
    with client.session_transaction() as sess:
        assert "planted" not in sess and sess.get("fp") and sess.get("issued_at")
    laptop = app.test_client()
    login(laptop, user)
    assert client.get("/engagements").status_code == 200 and laptop.get("/engagements").status_code == 200
    phone = app.test_client()
    page = phone.get("/login").get_data(as_text=True)
    import re
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    from conftest import PASSWORD
    assert phone.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token,
                                      "end_other_sessions": "1"}).status_code == 302
    assert phone.get("/engagements").status_code == 200
    assert client.get("/engagements").status_code == 302 and laptop.get("/engagements").status_code == 302
    assert User.get_by_id(user.id).session_nonce != user.session_nonce


def test_api_401_says_bearer_and_unknown_routes_answer_in_attests_words(client, make_user):
    response = client.get("/api/v1/engagements")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Bearer realm="attest"'
    missing = client.get("/api/v1/no-such-thing")
    body = missing.get_json()
    assert missing.status_code == 404 and body["error"]["code"] == "not_found"
    assert body["error"]["message"] == "no such API route: GET /api/v1/no-such-thing; see /api/v1/openapi.json"
    assert client.get("/api/nothing").get_json()["error"]["code"] == "not_found"
    wrong = client.put("/api/v1/engagements")
    assert wrong.status_code == 405 and wrong.get_json()["error"]["code"] == "method_not_allowed"
    assert "allowed: GET, POST" in wrong.get_json()["error"]["message"]
    assert "GET" in wrong.headers["Allow"]
