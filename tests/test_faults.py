"""Load and faults, the short version (seconds; the full one is bench/bench_load.py): real gunicorn workers
under concurrent uploads, reviews and reads answer no 5xx and lose nothing; a worker killed mid-upload
leaves no row and no file; PostgreSQL restarted mid-run (a cluster of the test's own) costs only 503s,
after which the pool reconnects, with nothing half-written; the object store stopped makes uploads 503
with nothing recorded."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

from evidence_store import LocalStore
from models import AuditEvent, Evidence
from services.demo import files as demo_files
from tests.fixtures.load import Target, run_load, upload_pdf, uploadable_requests
from tests.fixtures.prod import ROOT, base_env


def token_of(headers: dict) -> str:
    return headers["Authorization"].split(" ", 1)[1]


def verify(store) -> None:
    """verify-evidence's check of a store against the rows: nothing missing, altered or orphaned."""
    from services.evidence.verify import verify_store
    report = verify_store(store)
    assert report.ok, report.problems()


@pytest.fixture
def served_world(evidence_world, prod_server, database_url, tmp_path):
    """The evidence world served by gunicorn (2 workers × 4 threads, the checked-in config), with a store of
    its own (the session's store keeps earlier tests' files, whose rows are gone)."""
    w = evidence_world
    w.store = LocalStore(str(tmp_path / "served-evidence"))
    server = prod_server(base_env(DATABASE_URL=database_url, EVIDENCE_STORE=w.store.root), workers=2, threads=4)
    ids = []
    for skip in range(12):
        try:
            ids.append(w.request(skip=skip).id)
        except AssertionError:
            break
    target = Target(server.url, w.engagement.id, token_of(w.auth(w.contributor)), token_of(w.auth(w.reviewer)), ids)
    return w, server, target


def test_short_load_answers_no_5xx_and_loses_nothing(served_world):
    w, server, target = served_world
    stats = run_load(target, 6, uploaders=4, reviewers=2, readers=2)
    print("\n" + stats.table())
    assert stats.server_errors() == {}
    assert len(stats.uploaded) >= 8 and not [f for f in stats.failed_uploads if f[0] == 0 or f[0] >= 500]
    rows = {e.id: e.sha256 for e in Evidence.select(Evidence.id, Evidence.sha256)}
    assert all(rows.get(body["id"]) == body["sha256"] for body in stats.uploaded)
    verify(w.store)


def _connection_owner(worker_pids: list[int], client_port: int) -> int | None:
    for pid in worker_pids:
        try:
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == client_port:
                    return pid
        except psutil.NoSuchProcess:
            continue
    return None


def test_a_worker_killed_mid_upload_leaves_no_row_and_no_file(served_world):
    w, server, target = served_world
    store = w.store
    before = Evidence.select().count()
    boundary = "attestkilltest"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"request_id\"\r\n\r\n{target.request_ids[0]}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"effective_date\"\r\n\r\n"
            f"{time.strftime('%Y-%m-%d')}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").encode()
    chunk = b"%PDF-1.7\n" + b"0" * (1024 * 1024 - 9)
    length = len(head) + 40 * len(chunk) + len(f"\r\n--{boundary}--\r\n")
    sock = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    sock.sendall((f"POST /api/v1/engagements/{target.engagement_id}/evidence HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Authorization: Bearer {target.provider_token}\r\nContent-Type: multipart/form-data; "
                  f"boundary={boundary}\r\nContent-Length: {length}\r\n\r\n").encode() + head)
    for _ in range(8):
        sock.sendall(chunk)
    deadline = time.monotonic() + 20
    owner = None
    while owner is None and time.monotonic() < deadline:
        owner = _connection_owner(server.worker_pids(), sock.getsockname()[1])
    assert owner, "no worker holds the upload's connection"
    time.sleep(0.5)  # let it write what it has received
    assert store.temporary_files(), "the upload was not streaming into the store"
    psutil.Process(owner).send_signal(signal.SIGKILL)
    sock.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (owner in server.worker_pids() or len(server.worker_pids()) < 2):
        time.sleep(0.2)
    # the replacement worker sweeps what the dead one left; nothing half-written remains
    response = upload_pdf(server.url, target.engagement_id, target.provider_token, target.request_ids[0],
                          demo_files.pdf("after the kill"))
    assert response.status_code == 201, response.text
    assert Evidence.select().count() == before + 1
    deadline = time.monotonic() + 10
    while store.temporary_files() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.temporary_files() == []
    verify(store)


def test_object_store_down_answers_503_and_records_nothing(s3_evidence, evidence_world, seaweedfs):
    w = evidence_world
    req = w.request()
    assert w.upload(req, demo_files.pdf("while the store is up")).status_code == 201
    rows, events = Evidence.select().count(), AuditEvent.select().count()
    seaweedfs.stop()
    try:
        for data in (demo_files.pdf("small, while down"), b"%PDF-1.7\n" + b"1" * (20 * 1024 * 1024)):
            response = w.upload(req, data)
            assert response.status_code == 503, response.get_data(as_text=True)
            error = response.get_json()["error"]
            assert error["code"] == "store_unavailable" and "nothing was recorded" in error["message"]
            assert response.headers["Retry-After"]
        assert w.client.get("/healthz").status_code == 503
        assert (Evidence.select().count(), AuditEvent.select().count()) == (rows, events)
    finally:
        seaweedfs.start()
    assert w.upload(req, demo_files.pdf("store back")).status_code == 201
    assert w.client.get("/healthz").status_code == 200


def flask(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_postgresql_restarted_mid_run(pg_cluster, prod_server, tmp_path, database_url):
    """On a PostgreSQL cluster of the test's own whatever the session's DATABASE_URL, so it runs once: in the
    SQLite session (CI's first ``make test``)."""
    import psycopg2
    if database_url.startswith("postgres"):
        pytest.skip("runs on its own PostgreSQL cluster, once per CI run: in the SQLite session")
    url = pg_cluster.create_database(f"faults_{int(time.time())}")
    env = base_env(DATABASE_URL=url, EVIDENCE_STORE=str(tmp_path / "evidence"), DB_POOL_SIZE="8")
    for command in (["init-db"], ["load-controls"], ["demo"]):
        flask(env, *command)
    provider = flask(env, "create-token", "--email", "agent@democc.example").strip().splitlines()[-1]
    reviewer = flask(env, "create-token", "--email", "risk@demobank.example").strip().splitlines()[-1]
    server = prod_server(env, workers=2, threads=4)
    engagement = requests.get(f"{server.url}/api/v1/engagements", headers={"Authorization": f"Bearer {provider}"},
                              timeout=30).json()["items"][0]["id"]
    target = Target(server.url, engagement, provider, reviewer,
                    uploadable_requests(server.url, engagement, provider, limit=6))
    assert target.request_ids

    def restart() -> None:
        time.sleep(2)
        pg_cluster.stop("fast")
        time.sleep(2)
        pg_cluster.start()
    restarter = threading.Thread(target=restart)
    restarter.start()
    stats = run_load(target, 8, uploaders=3, reviewers=1, readers=2)
    restarter.join()
    print("\n" + stats.table())
    errors = stats.server_errors()
    assert errors and all(status == 503 for (_, status) in errors), errors
    for route in stats.times:  # every route recovered: the pool reconnected
        assert requests.get(f"{server.url}/healthz", timeout=30).status_code == 200, route
    after = upload_pdf(server.url, engagement, provider, target.request_ids[0], demo_files.pdf("after the restart"))
    assert after.status_code == 201, after.text

    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, sha256 FROM evidence")
        rows = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM evidence e WHERE NOT EXISTS (SELECT 1 FROM audit_event a WHERE "
                       "a.action = 'evidence.upload' AND a.object_id = e.id::text)")
        assert cursor.fetchone()[0] == 0, "an evidence row without its audit event: half-written"
    assert all(rows.get(body["id"]) == body["sha256"] for body in stats.uploaded), "a 201 upload was lost"
    failed = {sha for _, sha in stats.failed_uploads}
    assert not failed & set(rows.values()) - {b["sha256"] for b in stats.uploaded}, "a failed upload was recorded"
    done = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "app", "verify-evidence"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    problems = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith(("MISSING", "ALTERED"))]
    orphans = {line.split()[1].rstrip(":") for line in (done.stdout + done.stderr).splitlines()
               if line.startswith("ORPHAN")}
    assert problems == []
    assert orphans <= failed, "a stored file that no failed upload explains"  # placed, then its commit failed
