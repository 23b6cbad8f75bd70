"""Crash safety: a server process killed with SIGKILL mid-upload leaves no evidence row and,
once the app starts again, no partial file. Tested against a real gunicorn process on the test database."""
from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import evidence_store
from models import Evidence, EvidenceRequest
from services.demo import files as demo_files
from tests.fixtures.ports import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _server_env(database_url: str, store: str) -> dict:
    return {**os.environ, "DATABASE_URL": database_url, "EVIDENCE_STORE": store, "SECRET_KEY": "crash-test-key",
            "SESSION_COOKIE_SECURE": "0", "SCHEDULER": "off", "MAX_UPLOAD_MB": "100"}


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("gunicorn did not start listening")


def _wait_for_partial_file(store: evidence_store.LocalStore, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        files = [p for p in store.temporary_files() if os.path.getsize(p) > 0]
        if files:
            return files[0]
        time.sleep(0.05)
    raise AssertionError("the upload never reached the store's temporary file")


def test_sigkill_mid_upload_leaves_no_row_and_start_up_sweeps_the_partial_file(evidence_world, database_url,
                                                                                tmp_path):
    w = evidence_world
    req = w.request()
    status_before = EvidenceRequest.get_by_id(req.id).status
    store_dir = str(tmp_path / "store")
    store = evidence_store.LocalStore(store_dir)
    env = _server_env(database_url, store_dir)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "120",
         "app:create_app()"], cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, server)
        boundary = "crashboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"request_id\"\r\n\r\n{req.id}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"effective_date\"\r\n\r\n{dt.date.today()}"
                f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n\r\n"
                ).encode() + demo_files.pdf("crash")
        declared = len(head) + 50 * 1024 * 1024  # announces 50 MiB, sends a few
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall((f"POST /api/v1/engagements/{w.engagement.id}/evidence HTTP/1.1\r\n"
                                f"Host: 127.0.0.1:{port}\r\n{_auth_line(w)}\r\n"
                                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                                f"Content-Length: {declared}\r\n\r\n").encode() + head)
            for _ in range(8):  # slowly: 8 x 256 KiB
                connection.sendall(b"0" * 256 * 1024)
                time.sleep(0.05)
            partial = _wait_for_partial_file(store)
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
    assert Evidence.select().where(Evidence.request == req.id).count() == 0
    assert EvidenceRequest.get_by_id(req.id).status == status_before
    assert os.path.exists(partial), "the kill should have left the partial temporary file behind"
    assert list(store.all_hashes()) == []  # nothing under a content address

    # The next start of the app (any process: here a fresh interpreter creating the app) sweeps it.
    started = subprocess.run([sys.executable, "-c", "from app import create_app; create_app()"], cwd=ROOT, env=env,
                             capture_output=True, timeout=120)
    assert started.returncode == 0, started.stderr.decode()[-2000:]
    assert store.temporary_files() == [] and list(store.all_hashes()) == []


def _auth_line(w) -> str:
    return f"Authorization: {w.auth(w.contributor)['Authorization']}"


def test_the_sweep_keeps_a_live_processs_young_upload(tmp_path):
    store = evidence_store.LocalStore(str(tmp_path))
    live = store.staging()
    live.write(b"in progress")
    abandoned = os.path.join(store.tmp_dir, "999999999-stale.part")  # no such process
    with open(abandoned, "wb") as handle:
        handle.write(b"x")
    old = os.path.join(store.tmp_dir, f"{os.getppid()}-old.part")  # a live process, but an hour old
    with open(old, "wb") as handle:
        handle.write(b"x")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    removed = store.sweep()
    assert sorted(removed) == sorted([abandoned, old])
    assert store.temporary_files() == [live.path]
    live.discard()


def test_a_zombie_writer_counts_as_gone(tmp_path):
    """A worker SIGKILLed with its master is a zombie until PID 1 reaps it (in a container, maybe never):
    its upload's temporary file is still swept."""
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)  # exited, not yet reaped: a zombie
    store = evidence_store.LocalStore(str(tmp_path))
    leftover = os.path.join(store.tmp_dir, f"{zombie.pid}-left.part")
    with open(leftover, "wb") as handle:
        handle.write(b"partial")
    try:
        assert store.sweep() == [leftover] and not os.path.exists(leftover)
    finally:
        zombie.wait()
