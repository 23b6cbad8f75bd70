"""Bad JSON on the API (SPEC §7): lone surrogates 422, deep nesting 400, bodies over 1 MB 413 without being
read into memory (Content-Length first, chunked bodies through a bounded stream); tricky bytes in query strings
and forms never a 500."""
import contextlib
import http.client
import json

import pytest

from models import Engagement
from tests.conftest import bearer, login
from web.json_input import JSON_LIMIT, MAX_DEPTH

ENGAGEMENT = {"name": "Contact centre services", "provider": "BPO A", "frameworks": ["CPS234"], "place": "NSW",
              "timezone": "Australia/Sydney", "start_date": "2026-01-01"}


@pytest.fixture
def token(make_user):
    return bearer(make_user("client_admin"))


def post_raw(client, token, body: bytes, **kwargs):
    return client.post("/api/v1/engagements", data=body, headers={**token, "Content-Type": "application/json"},
                       **kwargs)


@pytest.mark.parametrize("body, field", [
    ('{"name": "Contact \\ud800 centre"}', "name"),
    ('{"frameworks": ["CPS234", "\\udfff"]}', "frameworks[1]"),
    ('{"provider": "BPO \\udc00\\ud800 A"}', "provider"),  # a low surrogate before a high one is no pair
    ('{"note": {"deep": ["x", {"y": "\\ud83d"}]}}', "note.deep[1].y"),
])
def test_a_lone_surrogate_anywhere_is_422_and_names_where(client, token, body, field):
    data = json.loads(body)
    response = post_raw(client, token, json.dumps({**ENGAGEMENT, **data}).encode())
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and error["field"] == field and "lone surrogate" in error["message"]
    assert Engagement.select().count() == 0


def test_a_lone_surrogate_in_a_key_is_422(client, token):
    response = post_raw(client, token, b'{"name": "x", "\\ud800": 1}')
    assert response.status_code == 422 and "lone surrogate" in response.get_json()["error"]["message"]


def test_a_real_surrogate_pair_is_text_like_any_other(client, token):
    response = post_raw(client, token, json.dumps({**ENGAGEMENT, "name": "Contact centre \U0001F4DE"}).encode())
    assert response.status_code == 201
    assert Engagement.get().name == "Contact centre \U0001F4DE"


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b"[" * 100_000, b'{"a":' * 100_000,
                                  b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)])
def test_json_nested_too_deep_is_400(client, token, body):
    response = post_raw(client, token, body)
    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["error"]["message"]


def test_invalid_utf8_is_400_and_nul_in_json_is_422(client, token):
    response = post_raw(client, token, b'{"name": "caf\xe9"}')
    assert response.status_code == 400 and "UTF-8" in response.get_json()["error"]["message"]
    response = post_raw(client, token, json.dumps({**ENGAGEMENT, "note": ["a\u0000b"]}).encode())
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "note[0]"
    assert Engagement.select().count() == 0


def test_a_body_over_1_mb_is_413_by_its_content_length(client, token):
    body = json.dumps({**ENGAGEMENT, "contract_ref": "x" * JSON_LIMIT}).encode()
    response = post_raw(client, token, body)
    assert response.status_code == 413
    assert response.get_json()["error"] == {"code": "too_large",
                                            "message": "request body larger than the 1 MB limit for JSON"}
    assert Engagement.select().count() == 0


def test_a_chunked_body_over_1_mb_is_413(client, token):
    """No Content-Length: the body is read through a stream that stops at the limit."""
    import io
    body = json.dumps({**ENGAGEMENT, "contract_ref": "x" * (2 * JSON_LIMIT)}).encode()
    response = client.post("/api/v1/engagements", input_stream=io.BytesIO(body),
                           headers={**token, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large", response.get_json()


def test_a_body_just_under_the_limit_is_parsed(client, token):
    body = json.dumps({**ENGAGEMENT, "filler": "x" * (JSON_LIMIT - 500)}).encode()
    assert len(body) <= JSON_LIMIT
    assert post_raw(client, token, body).status_code == 201


def test_an_upload_over_1_mb_is_stored_under_the_upload_limit(evidence_world):
    """Multipart uploads keep MAX_UPLOAD_MB: a 3 MB PDF goes through the real upload route."""
    from services.demo import files as demo_files
    data = demo_files.pdf("Large access review") + b"%" + b"x" * (3 * JSON_LIMIT) + b"\n"
    response = evidence_world.upload(evidence_world.request(), data=data)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["size"] == len(data)


def test_multipart_bodies_keep_the_upload_limit_not_the_json_one(client, token):
    """A 2 MB multipart body to the API is not refused for its size (uploads have MAX_UPLOAD_MB)."""
    import io
    response = client.post("/api/v1/engagements", headers=token, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(b"x" * (2 * JSON_LIMIT)), "big.pdf")})
    assert response.status_code == 400 and "JSON" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("path", [
    "/api/v1/controls?q=%ED%A0%80", "/api/v1/controls?framework=%ED%A0%80", "/api/v1/engagements?page=%FF",
    "/api/v1/controls/%ED%A0%80", "/api/v1/frameworks/%C0%AF/obligations", "/api/v1/controls?q=%F0%9F",
])
def test_invalid_utf8_in_api_query_strings_and_paths_is_no_500(client, token, path):
    response = client.get(path, headers=token)
    assert response.status_code < 500 and response.is_json


@pytest.mark.parametrize("path", [
    "/requests?status=%ED%A0%80", "/library?q=%ED%A0%80%FF", "/engagements?page=%ED%A0%80", "/library/%ED%A0%80",
])
def test_invalid_utf8_in_page_query_strings_is_no_500(client, make_user, path):
    login(client, make_user("client_admin"))
    assert client.get(path).status_code < 500


def test_invalid_utf8_in_form_fields_is_no_500(client, make_user):
    user = make_user("client_admin")
    page = client.get("/login").get_data(as_text=True)
    import re
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = f"csrf_token={csrf}&email=%ED%A0%80{user.email}&password=%ED%A0%80%FF".encode()
    response = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 401
    login(client, user)
    page = client.get("/engagements/new").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = (f"csrf_token={csrf}&name=Caf%ED%A0%80&provider=%FF%FE&frameworks=CPS234&place=NSW"
            "&timezone=Australia%2FSydney&start_date=2026-01-01").encode()
    response = client.post("/engagements/new", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500


# ------------------------------------------------------------------ against a real server process

def _worker_rss(server) -> int:
    import psutil
    return sum(psutil.Process(pid).memory_info().rss for pid in server.worker_pids())


def test_a_huge_content_length_is_refused_before_the_body_is_sent(gunicorn_server, token):
    """98 MB announced: 413 comes back while the client has sent nothing but headers."""
    host, port = gunicorn_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/api/v1/engagements")
    for name, value in {**token, "Content-Type": "application/json", "Content-Length": str(98 * 2**20)}.items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(b'{"name": ')
    response = connection.getresponse()
    assert response.status == 413 and json.loads(response.read())["error"]["code"] == "too_large"
    connection.close()


def test_a_long_chunked_body_stops_at_the_limit(gunicorn_server, token):
    """Chunks keep coming: the server answers 413 once 1 MB has arrived and its memory hardly moves."""
    host, port = gunicorn_server.url.removeprefix("http://").split(":")
    before = _worker_rss(gunicorn_server)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    chunk = b"[" + b'"xxxxxxxxxxxxxxxx",' * 3000

    def chunks():
        for _ in range(2000):  # about 110 MB if it were all read
            yield chunk

    # the server stops reading at the limit and answers; its answer is still there to read
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        connection.request("POST", "/api/v1/engagements", body=chunks(),
                           headers={**token, "Content-Type": "application/json"}, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413
    connection.close()
    assert _worker_rss(gunicorn_server) - before < 32 * 2**20
