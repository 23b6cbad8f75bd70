"""Upload benchmark: one large file through a real HTTP server (gunicorn) into the evidence store.

    .venv/bin/python bench/bench_upload.py [--size-mib 1024] [--keep]

Makes a scratch SQLite database and evidence store in a temporary directory, loads the control library,
creates an engagement, a provider user and its API token, starts gunicorn (one sync worker) on a free
loopback port, then:

1. times ``sha256sum FILE && cp FILE COPY`` on the same file (the floor: one read to hash, one copy), twice;
2. streams the file as a multipart upload (``POST /api/v1/engagements/<id>/evidence``, Content-Length set)
   while sampling the worker's resident memory every 20 ms (psutil);
3. prints the upload's throughput, its ratio to the baseline's (goal >= 0.7), and the worker's peak memory
   growth over its idle size (goal <= 64 MiB).

The upload also fsyncs the file before the row commits, which ``cp`` does not. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from prod_setup import PeakRss, stream_upload

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
MIB = 1024 * 1024


def make_file(path: str, size: int) -> None:
    """A PDF header, then incompressible bytes (one random MiB repeated), to ``size`` bytes."""
    from services.demo.files import pdf
    block = os.urandom(MIB)
    with open(path, "wb") as out:
        head = pdf("benchmark")
        out.write(head)
        left = size - len(head)
        while left > 0:
            out.write(block[:min(MIB, left)])
            left -= MIB


def baseline_seconds(path: str, copy: str) -> float:
    start = time.perf_counter()
    subprocess.run(f"sha256sum {path} >/dev/null && cp {path} {copy}", shell=True, check=True)
    elapsed = time.perf_counter() - start
    os.remove(copy)
    return elapsed


def prepare(database_url: str, store: str) -> tuple[int, int, str]:
    """(engagement id, request id, API token) in a fresh scratch database."""
    os.environ.update(DATABASE_URL=database_url, EVIDENCE_STORE=store)
    import datetime as dt

    import models
    from app import create_app
    from models.schema import migrate_database
    from services.people.accounts import create_token, create_user
    from services.register.engagements import create_accepted_engagement
    from services.register.library_sync import load_library
    create_app({"DATABASE_URL": database_url, "EVIDENCE_STORE": store, "SCHEDULER": "off"})
    models.db.connect(reuse_if_open=True)
    migrate_database()
    load_library()
    admin = create_user("admin@bank.example", "client_admin", "Bench Bank", "Bench-Password-123")
    agent = create_user("agent@bpo.example", "provider_contributor", "Bench BPO", "Bench-Password-123")
    engagement = create_accepted_engagement(admin, {"name": "Bench", "provider": "Bench BPO", "place": "NSW",
                                           "start_date": (dt.date.today() - dt.timedelta(days=100)).isoformat(),
                                           "frameworks": ["ISO27001-2022"]})
    request = (models.EvidenceRequest.select().join(models.EvidenceRequirement)
               .where(models.EvidenceRequest.engagement == engagement.id,
                      models.EvidenceRequest.status.in_(("open", "overdue")),
                      models.EvidenceRequirement.accepted_types.contains('"application/pdf"')).first())
    token = create_token(agent)
    models.db.close()
    return engagement.id, request.id, token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                               "--timeout", "600", "app:create_app()"], cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def worker_of(server: subprocess.Popen) -> psutil.Process:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = psutil.Process(server.pid).children()
        if children:
            return children[0]
        time.sleep(0.1)
    raise SystemExit("no gunicorn worker")


def upload(port: int, token: str, engagement_id: int, request_id: int, path: str) -> tuple[float, dict]:
    """Seconds to stream ``path`` as a multipart upload, and the evidence it created."""
    start = time.perf_counter()
    status, body = stream_upload(f"http://127.0.0.1:{port}", engagement_id, token, request_id, Path(path))
    elapsed = time.perf_counter() - start
    if status != 201:
        raise SystemExit(f"upload failed: {status} {body[:500]}")
    return elapsed, json.loads(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    size = args.size_mib * MIB
    work = tempfile.mkdtemp(prefix="attest-bench-upload-")
    server = None
    try:
        big, store = os.path.join(work, "big.pdf"), os.path.join(work, "store")
        database_url = f"sqlite:///{work}/bench.db"
        print(f"writing a {args.size_mib} MiB file…")
        make_file(big, size)
        engagement_id, request_id, token = prepare(database_url, store)
        env = {**os.environ, "DATABASE_URL": database_url, "EVIDENCE_STORE": store, "SECRET_KEY": "bench-upload",
               "MAX_UPLOAD_MB": str(args.size_mib + 16), "SCHEDULER": "off", "SESSION_COOKIE_SECURE": "0"}
        port = free_port()
        server = start_server(env, port)
        worker = worker_of(server)
        connection = http.client.HTTPConnection("127.0.0.1", port)  # warm the worker up (imports, connection)
        connection.request("GET", "/api/v1/engagements", headers={"Authorization": f"Bearer {token}"})
        connection.getresponse().read()
        connection.close()
        idle = worker.memory_info().rss
        baselines = [baseline_seconds(big, os.path.join(work, "copy"))]
        with PeakRss([worker.pid], interval=0.02) as sampler:
            seconds, body = upload(port, token, engagement_id, request_id, big)
        baselines.append(baseline_seconds(big, os.path.join(work, "copy")))
        baseline = statistics.mean(baselines)
        assert body["size"] == size, body
        print()
        print(f"Attest upload benchmark: {args.size_mib} MiB through gunicorn (1 sync worker), "
              f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}")
        print(f"  sha256sum FILE && cp FILE: {baseline:6.2f} s  ({size / MIB / baseline:7.1f} MiB/s)  "
              f"runs: {', '.join(f'{b:.2f}' for b in baselines)} s")
        print(f"  upload (HTTP, multipart):  {seconds:6.2f} s  ({size / MIB / seconds:7.1f} MiB/s)")
        print(f"  throughput ratio upload / baseline: {baseline / seconds:.2f}  (goal >= 0.7)")
        print(f"  worker memory: idle {idle / MIB:.1f} MiB, peak {sampler.peak / MIB:.1f} MiB, "
              f"growth {(sampler.peak - idle) / MIB:.1f} MiB  (goal <= 64 MiB)")
        print(f"  stored: sha256 {body['sha256']}, {body['media_type']}, version {body['version']}")
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
