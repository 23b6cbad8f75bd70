"""Production serving: /healthz for load balancers, request ids on responses and log lines, JSON logs,
503s for a database or store that is down, and the start-up check — through the real gunicorn."""
import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.fixtures.prod import ROOT, base_env


def test_healthz_is_public_json(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"status": "ok"} and body["checks"]["evidence_store"] == {"status": "ok"}


def test_healthz_reports_the_scheduler_lease_age(client):
    from services.alerts.lease import LEASE, acquire_lease
    assert acquire_lease(LEASE, "host-a:1:abc", 900)
    scheduler = client.get("/healthz").get_json()["checks"]["scheduler"]
    assert scheduler["status"] == "ok" and scheduler["holder"] == "host-a:1:abc"
    assert 0 <= scheduler["lease_age_seconds"] < 60 and 840 < scheduler["expires_in_seconds"] <= 900


def test_healthz_is_503_when_the_store_is_not_writable(app, client, tmp_path):
    from evidence_store import LocalStore
    real = app.extensions["evidence_store"]
    broken = LocalStore(str(tmp_path / "store"))
    os.rmdir(tmp_path / "store" / "tmp")
    (tmp_path / "store" / "tmp").write_text("a file where the temporary directory should be")
    app.extensions["evidence_store"] = broken
    try:
        response = client.get("/healthz")
    finally:
        app.extensions["evidence_store"] = real
    assert response.status_code == 503
    assert response.get_json()["checks"]["evidence_store"] == {"status": "failing",
                                                                "error": "evidence store not writable"}


def test_request_id_is_honoured_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-Id": "lb-7f3a.42"}).headers["X-Request-Id"] == "lb-7f3a.42"
    generated = client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"}).headers["X-Request-Id"]
    assert len(generated) == 32 and generated.isalnum()
    assert client.get("/login").headers["X-Request-Id"] != generated


def test_gunicorn_serves_with_request_ids_in_json_logs(prod_server, database_url, library, tmp_path):
    server = prod_server(base_env(DATABASE_URL=database_url, EVIDENCE_STORE=str(tmp_path / "ev"),
                                      LOG_FORMAT="json"), workers=2)
    response = requests.get(server.url + "/healthz", headers={"X-Request-Id": "probe-1"}, timeout=10)
    assert response.status_code == 200 and response.headers["X-Request-Id"] == "probe-1"
    assert requests.get(server.url + "/api/v1/engagements", timeout=10).status_code == 401
    server.stop()
    lines = [json.loads(line) for line in server.log.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "attest.request"]
    assert {"request_id": "probe-1", "path": "/healthz", "status": 200} in [
        {k: line[k] for k in ("request_id", "path", "status")} for line in access]
    assert all(len(line["request_id"]) >= 1 and line["request_id"] != "-" for line in access)
    assert any(line["logger"] == "gunicorn.error" and "Shutting down" in line["message"] for line in lines)


def test_database_down_answers_503_with_a_clear_message(prod_server, tmp_path, unused_port):
    server = prod_server(base_env(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{unused_port}/nowhere",
                                      EVIDENCE_STORE=str(tmp_path / "ev")), workers=1)
    health = requests.get(server.url + "/healthz", timeout=15)
    assert health.status_code == 503
    assert health.json()["checks"]["database"]["status"] == "failing"
    api = requests.get(server.url + "/api/v1/engagements", headers={"Authorization": "Bearer x" * 3}, timeout=15)
    assert api.status_code == 503 and api.headers["Retry-After"]
    assert api.json()["error"]["code"] == "database_unavailable"
    assert "database is unavailable" in api.json()["error"]["message"]
    page = requests.get(server.url + "/login", timeout=15)
    assert page.status_code in (200, 503)  # the sign-in form needs no database; nothing answers 500


def run_flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "app", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_bad_store_stops_the_start_with_a_clear_message(tmp_path, unused_port, s3_env, database_url):
    cases = {
        "s3://A_Bucket/x": "not a valid S3 bucket name",
        "gs://bucket/x": "unsupported scheme",
    }
    for url, message in cases.items():
        done = run_flask(base_env(DATABASE_URL=database_url, EVIDENCE_STORE=url), "tick")
        assert done.returncode == 3 and message in done.stderr and "Traceback" not in done.stderr
    unreachable = run_flask(base_env(**{**s3_env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{unused_port}"},
                                     DATABASE_URL=database_url), "tick")
    assert unreachable.returncode == 3 and "unreachable" in unreachable.stderr
    refused = run_flask(base_env(**{**s3_env, "AWS_SECRET_ACCESS_KEY": "wrong"}, DATABASE_URL=database_url), "tick")
    assert refused.returncode == 3 and "refused the credentials" in refused.stderr


def test_gunicorn_refuses_to_start_on_a_bad_store(tmp_path, database_url):
    done = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"], cwd=ROOT,
                          env=base_env(DATABASE_URL=database_url, EVIDENCE_STORE="s3://x/y", BIND="127.0.0.1:0"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "not a valid S3 bucket name" in done.stderr
    assert "Booting worker" not in done.stderr
