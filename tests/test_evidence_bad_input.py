"""Bad input to the evidence routes: each a clear error, nothing stored, nothing changed (SPEC §7)."""
from __future__ import annotations

import datetime as dt
import http.client
import io
import json
import re
import urllib.parse

import pytest

import evidence_store
from models import AuditEvent, AuditorGrant, Evidence, EvidenceRequest, RequestHistory, utcnow
from services.demo import files as demo_files
from services.register.engagements import create_accepted_engagement
from tests.conftest import login


@pytest.fixture
def unchanged(evidence_world):
    """Asserts, after the test, that no evidence row, stored file or temporary file was added."""
    store = evidence_store.get_store()
    rows, files = Evidence.select().count(), set(store.all_hashes())
    yield
    assert Evidence.select().count() == rows
    assert set(store.all_hashes()) == files
    assert store.temporary_files() == []


@pytest.fixture
def one_mb_limit(app):
    saved = app.config["MAX_UPLOAD_MB"], app.config["MAX_CONTENT_LENGTH"]
    app.config.update(MAX_UPLOAD_MB=1, MAX_CONTENT_LENGTH=1024 * 1024 + 64 * 1024)
    yield 1024 * 1024
    app.config["MAX_UPLOAD_MB"], app.config["MAX_CONTENT_LENGTH"] = saved


def error_of(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert body["error"]["message"]
    return body["error"]


def big_pdf(size: int) -> bytes:
    head = demo_files.pdf("big")
    return head + b"%" + b"0" * (size - len(head) - 1)


def test_a_file_over_the_limit_is_413(evidence_world, unchanged, one_mb_limit):
    w = evidence_world
    error = error_of(w.upload(w.request(), big_pdf(one_mb_limit + 10_000)), 413)  # body within the envelope
    assert error["code"] == "too_large" and "1 MB" in error["message"]
    error_of(w.upload(w.request(), big_pdf(2 * one_mb_limit)), 413)  # Content-Length alone says too large


def test_a_chunked_body_over_the_limit_is_413_through_a_real_server(evidence_world, unchanged, one_mb_limit,
                                                                     live_server):
    w = evidence_world
    boundary = "attestboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"request_id\"\r\n\r\n{w.request().id}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"effective_date\"\r\n\r\n{dt.date.today()}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode()
    url = urllib.parse.urlsplit(live_server)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.putrequest("POST", f"/api/v1/engagements/{w.engagement.id}/evidence")
    connection.putheader("Authorization", w.auth(w.contributor)["Authorization"])
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()

    def send(chunk: bytes) -> None:
        connection.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    try:
        send(head + demo_files.pdf("chunked"))
        for _ in range(3):  # 3 MiB of file, no Content-Length anywhere
            send(b"0" * one_mb_limit)
        send(f"\r\n--{boundary}--\r\n".encode())
        connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop reading once it has answered 413
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "too_large"
    connection.close()


def test_an_executable_named_pdf_is_415(evidence_world, unchanged):
    w = evidence_world
    with open("/bin/ls", "rb") as handle:
        executable = handle.read()
    error = error_of(w.upload(w.request(), executable, filename="report.pdf"), 415)
    assert error["code"] == "unsupported_media_type" and "application/pdf" in error["message"]


def test_a_type_the_requirement_does_not_accept_is_415(evidence_world, unchanged):
    w = evidence_world
    req = w.request("application/pdf")
    accepted = json.loads(req.requirement.accepted_types)
    assert "image/png" not in accepted, "this test needs a requirement that refuses PNG"
    error_of(w.upload(req, demo_files.png(), filename="scan.pdf"), 415)


def test_an_empty_file_is_422(evidence_world, unchanged):
    error = error_of(evidence_world.upload(evidence_world.request(), b"", filename="empty.pdf"), 422)
    assert error["field"] == "file" and "empty" in error["message"]


BAD_DATES = [(None, "required"), ("", "required"), ("2026-13-01", "not a date"), ("01/02/2026", "not a date"),
             ("20260101", "not a date"), ("tomorrow", "not a date"), ("2026-02-30", "not a date")]


def test_effective_date_missing_or_malformed_is_422(evidence_world, unchanged):
    w = evidence_world
    for effective_date, message in BAD_DATES:
        body = {"request_id": str(w.request().id), "file": (io.BytesIO(demo_files.pdf("x")), "x.pdf")}
        if effective_date is not None:
            body["effective_date"] = effective_date
        response = w.client.post(f"/api/v1/engagements/{w.engagement.id}/evidence", data=body,
                                 headers=w.auth(w.contributor), content_type="multipart/form-data")
        error = error_of(response, 422)
        assert error["field"] == "effective_date" and message in error["message"], effective_date


def test_effective_date_in_the_future_is_422(evidence_world, unchanged):
    w = evidence_world
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    error = error_of(w.upload(w.request(), effective_date=tomorrow), 422)
    assert error["field"] == "effective_date" and "future" in error["message"]


def test_a_nul_in_the_filename_is_400(evidence_world, unchanged):
    error_of(evidence_world.upload(evidence_world.request(), filename="report\x00.pdf"), 400)


BAD_FILENAMES = [
    ("../../../etc/passwd.pdf", "path separator"),
    ("reports/q1.pdf", "path separator"),
    ("..\\..\\windows\\report.pdf", "path separator"),  # sent as RFC 5987 filename* below: a backslash arrives
    ("report\x07\x1b[31m.pdf", "control character (U+0007)"),
    ("line\r\nbreak.pdf", "control character (U+000D)"),
    ("invoice\u202efdp.exe", "invisible formatting (bidi or zero-width) character (U+202E)"),
    ("\u200b\u2066hidden\u2069.pdf", "invisible formatting (bidi or zero-width) character (U+200B)"),
    ("a" * 1000 + ".pdf", "1,004 characters long; at most 200"),
    ("...", "not a file name"),
]


def _upload_named(w, filename: str):
    """Upload with the name in ``filename*`` (RFC 5987, percent-encoded UTF-8) so that it arrives exactly as
    written: in a quoted ``filename="…"`` a backslash is an escape and never reaches the application."""
    boundary = "namesboundary"
    quoted = urllib.parse.quote(filename, safe="")
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"request_id\"\r\n\r\n{w.request().id}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"effective_date\"\r\n\r\n{dt.date.today()}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''{quoted}\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode()
    body += demo_files.pdf("x") + f"\r\n--{boundary}--\r\n".encode()
    return w.client.post(f"/api/v1/engagements/{w.engagement.id}/evidence", data=body,
                         content_type=f"multipart/form-data; boundary={boundary}", headers=w.auth(w.contributor))


def test_bad_filenames_are_refused_with_nothing_recorded(evidence_world, unchanged):
    w = evidence_world
    history, events = RequestHistory.select().count(), AuditEvent.select().count()
    for sent, message in BAD_FILENAMES:
        error = error_of(_upload_named(w, sent), 422)
        assert error["field"] == "file" and message in error["message"], (sent, error)
    assert (RequestHistory.select().count(), AuditEvent.select().count()) == (history, events)


def test_an_ordinary_filename_is_kept_as_sent(evidence_world):
    w = evidence_world
    for sent in ("Rapport d'audit – Q3 2026.pdf", "Überprüfung Zugänge 2026.pdf", "报告 第一季度.pdf"):
        body = _upload_named(w, sent).get_json()
        assert body["filename"] == sent
        disposition = w.client.get(f"/api/v1/evidence/{body['id']}/file", headers=w.auth(w.reviewer)).headers[
            "Content-Disposition"]
        assert "filename*=UTF-8''" + urllib.parse.quote(sent, safe="") in disposition


def test_a_request_of_another_engagement_or_tenant_is_404(evidence_world, unchanged, make_user):
    w = evidence_world
    other_engagement = create_accepted_engagement(w.admin,
            {"name": "Second engagement", "provider": "BPO A", "place": "VIC",
                                                   "start_date": "2026-01-01", "frameworks": ["CPS234"]})
    other_request = EvidenceRequest.get(EvidenceRequest.engagement == other_engagement.id)
    error = error_of(w.upload(other_request), 404)  # posted to the first engagement
    assert error["code"] == "not_found"
    stranger_admin = make_user("client_admin", org="Bank B")
    foreign = create_accepted_engagement(stranger_admin,
            {"name": "Bank B outsourcing", "provider": "BPO B", "place": "NSW",
                                                 "start_date": "2026-01-01", "frameworks": ["CPS234"]})
    foreign_request = EvidenceRequest.get(EvidenceRequest.engagement == foreign.id)
    error_of(w.upload(foreign_request), 404)
    response = w.client.post(f"/api/v1/engagements/{foreign.id}/evidence", headers=w.auth(w.contributor),
                             data={"request_id": str(foreign_request.id), "effective_date": str(dt.date.today()),
                                   "file": (io.BytesIO(demo_files.pdf("x")), "x.pdf")},
                             content_type="multipart/form-data")
    error_of(response, 404)


def test_other_tenants_cannot_see_or_review_evidence(evidence_world, make_user):
    w = evidence_world
    stranger_admin = make_user("client_admin", org="Bank B")
    stranger = make_user("provider_contributor", org="BPO B")
    mine = w.upload(w.request()).get_json()
    for url in (f"/api/v1/evidence/{mine['id']}", f"/api/v1/evidence/{mine['id']}/file",
                f"/api/v1/requests/{w.request().id}"):
        error_of(w.client.get(url, headers=w.auth(stranger)), 404)
    error_of(w.client.post(f"/api/v1/evidence/{mine['id']}/review", json={"decision": "accept"},
                           headers=w.auth(stranger_admin)), 404)
    assert Evidence.get_by_id(mine["id"]).status == "submitted"


def test_bad_request_ids_and_missing_files_are_clear_errors(evidence_world, unchanged):
    w = evidence_world
    url = f"/api/v1/engagements/{w.engagement.id}/evidence"
    today = str(dt.date.today())
    for request_id in (None, "", "abc", "-1", "1e3"):
        body = {"effective_date": today, "file": (io.BytesIO(demo_files.pdf("x")), "x.pdf")}
        if request_id is not None:
            body["request_id"] = request_id
        response = w.client.post(url, data=body, headers=w.auth(w.contributor), content_type="multipart/form-data")
        assert error_of(response, 422)["field"] == "request_id"
    error_of(w.client.post(url, data={"request_id": str(w.request().id), "effective_date": today},
                           headers=w.auth(w.contributor), content_type="multipart/form-data"), 422)
    error_of(w.client.post(url, json={"request_id": w.request().id}, headers=w.auth(w.contributor)), 400)
    # several files are one submission now; more than a submission holds, or one file twice, store nothing
    too_many = {"request_id": str(w.request().id), "effective_date": today,
                "file": [(io.BytesIO(demo_files.pdf(str(i))), f"{i}.pdf") for i in range(21)]}
    assert "at most 20" in error_of(w.client.post(url, data=too_many, headers=w.auth(w.contributor),
                                                  content_type="multipart/form-data"), 422)["message"]
    twice = {"request_id": str(w.request().id), "effective_date": today,
             "file": [(io.BytesIO(demo_files.pdf("1")), "1.pdf"), (io.BytesIO(demo_files.pdf("1")), "copy.pdf")]}
    assert "same as file 1" in error_of(w.client.post(url, data=twice, headers=w.auth(w.contributor),
                                                      content_type="multipart/form-data"), 422)["message"]
    error_of(w.client.post(url, data=b"--x\r\nnot really", headers={**w.auth(w.contributor),
                                                                    "Content-Type": "multipart/form-data; boundary=x"}),
             400)


def test_review_and_withdraw_refuse_bad_bodies(evidence_world):
    w = evidence_world
    item = w.upload(w.request()).get_json()
    url = f"/api/v1/evidence/{item['id']}/review"
    assert error_of(w.review(item["id"], "maybe"), 422)["field"] == "decision"
    error_of(w.client.post(url, data="accept", headers=w.auth(w.reviewer)), 400)
    error_of(w.client.post(url, json=["accept"], headers=w.auth(w.reviewer)), 422)
    error_of(w.review(item["id"], "reject", "x\u202eevil"), 422)
    error_of(w.review(item["id"], "reject", "x" * 4001), 422)
    error_of(w.review(item["id"], "accept", user=w.contributor), 404)  # providers do not review
    error_of(w.withdraw(item["id"], "  "), 422)
    error_of(w.client.post("/api/v1/evidence/99999999/review", json={"decision": "accept"},
                           headers=w.auth(w.reviewer)), 404)
    error_of(w.client.get("/api/v1/evidence/1/file?disposition=script", headers=w.auth(w.reviewer)), 422)
    assert Evidence.get_by_id(item["id"]).status == "submitted"


def _session_csrf(client, user) -> str:
    login(client, user)
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _multipart(fields: list[tuple[str, str | tuple[bytes, str]]]) -> tuple[bytes, str]:
    boundary = "csrfboundary"
    out = bytearray()
    for name, value in fields:
        if isinstance(value, tuple):
            out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{value[1]}\"\r\n"
                    f"Content-Type: application/octet-stream\r\n\r\n").encode() + value[0] + b"\r\n"
        else:
            out += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def test_a_session_upload_without_a_csrf_token_is_400(evidence_world, unchanged):
    w = evidence_world
    token = _session_csrf(w.client, w.contributor)
    url = f"/api/v1/engagements/{w.engagement.id}/evidence"
    fields = [("request_id", str(w.request().id)), ("effective_date", str(dt.date.today()))]
    file_part = ("file", (demo_files.pdf("x"), "x.pdf"))
    for body_fields, headers in (
            (fields + [file_part], {}),  # no token at all
            (fields + [file_part], {"X-CSRFToken": "forged"}),
            (fields + [("csrf_token", "forged"), file_part], {}),
            (fields + [file_part, ("csrf_token", token)], {}),  # a token after the file comes too late
    ):
        body, content_type = _multipart(body_fields)
        response = w.client.post(url, data=body, headers={"Content-Type": content_type, **headers})
        assert error_of(response, 400)["code"] == "csrf"


def test_a_session_upload_with_its_csrf_token_works(evidence_world):
    w = evidence_world
    token = _session_csrf(w.client, w.contributor)
    url = f"/api/v1/engagements/{w.engagement.id}/evidence"
    fields = [("request_id", str(w.request().id)), ("effective_date", str(dt.date.today()))]
    for body_fields, headers in ((fields + [("file", (demo_files.pdf("h"), "h.pdf"))], {"X-CSRFToken": token}),
                                 ([("csrf_token", token)] + fields + [("file", (demo_files.pdf("f"), "f.pdf"))], {})):
        body, content_type = _multipart(body_fields)
        response = w.client.post(url, data=body, headers={"Content-Type": content_type, **headers})
        assert response.status_code == 201, response.get_json()


def test_auditors_see_only_accepted_evidence_of_their_frameworks(evidence_world, make_user):
    w = evidence_world
    auditor = make_user("auditor")
    AuditorGrant.create(auditor=auditor, engagement=w.engagement, frameworks=json.dumps(["ISO27001-2022"]),
                        starts_at=utcnow() - dt.timedelta(days=1), expires_at=utcnow() + dt.timedelta(days=1),
                        granted_by=w.admin)
    req = w.request(framework="ISO27001-2022")
    outside = w.request(not_framework="ISO27001-2022")
    error_of(w.client.get(f"/api/v1/requests/{outside.id}", headers=w.auth(auditor)), 404)
    accepted = w.upload(req, demo_files.pdf("a")).get_json()
    w.review(accepted["id"], "accept")
    pending = w.upload(req, demo_files.pdf("b")).get_json()
    assert w.client.get(f"/api/v1/evidence/{accepted['id']}", headers=w.auth(auditor)).status_code == 200
    error_of(w.client.get(f"/api/v1/evidence/{pending['id']}", headers=w.auth(auditor)), 404)
    error_of(w.client.get(f"/api/v1/evidence/{pending['id']}/file", headers=w.auth(auditor)), 404)
    detail = w.client.get(f"/api/v1/requests/{req.id}", headers=w.auth(auditor)).get_json()
    assert [v["id"] for v in detail["versions"]] == [accepted["id"]]
    assert detail["history"] and all(h["subject"] == "request" for h in detail["history"])
    assert not detail["may_upload"] and not detail["may_review"]
    error_of(w.upload(req, user=auditor), 404)
    assert w.client.get("/api/v1/review-queue", headers=w.auth(auditor)).get_json()["total"] == 0
