"""Shared set-up of the production benchmarks: a SeaweedFS server, a PostgreSQL cluster of their own (or
SQLite), the demo data set, tokens, and gunicorn with the checked-in config — all on loopback, all torn down."""
from __future__ import annotations

import contextlib
import http.client
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from tests.fixtures.postgres import PG_BIN, Cluster  # noqa: E402
from tests.fixtures.prod import Gunicorn, base_env  # noqa: E402
from tests.fixtures.s3 import SeaweedFS  # noqa: E402

# SIGTERM (timeout, kill) unwinds like Ctrl-C, so the servers started here are stopped and their files removed
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def flask(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class Stack:
    env: dict[str, str]
    directory: Path
    seaweedfs: SeaweedFS
    bucket: str
    provider_token: str = ""
    reviewer_token: str = ""


@contextlib.contextmanager
def stack(database: str = "postgresql", store: str = "s3", extra_env: dict | None = None) -> Iterator[Stack]:
    """The demo data set on PostgreSQL (a cluster of our own) or SQLite, with evidence on SeaweedFS or local."""
    directory = Path(tempfile.mkdtemp(prefix="attest-bench-"))
    (directory / "weed").mkdir()
    weed = SeaweedFS(directory / "weed")
    cluster = None
    try:
        weed.start()
        bucket = weed.new_bucket()
        env = base_env(**(extra_env or {}))
        if store == "s3":
            env.update(weed.env(bucket))
        else:
            env["EVIDENCE_STORE"] = str(directory / "evidence")
        if database == "postgresql" and (PG_BIN / "initdb").exists():
            cluster = Cluster()
            cluster.init()
            cluster.start()
            env["DATABASE_URL"] = cluster.create_database("attest_bench")
        else:
            env["DATABASE_URL"] = f"sqlite:///{directory / 'attest.db'}"
        for command in (["init-db"], ["load-controls"], ["demo"]):
            flask(env, *command)
        result = Stack(env, directory, weed, bucket)
        result.provider_token = flask(env, "create-token", "--email", "agent@democc.example").split()[-1]
        result.reviewer_token = flask(env, "create-token", "--email", "risk@demobank.example").split()[-1]
        yield result
    finally:
        weed.stop(graceful=False)
        if cluster is not None:
            cluster.destroy()
        subprocess.run(["rm", "-rf", str(directory)], check=False)


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int, threads: int = 4) -> Iterator[Gunicorn]:
    log = Path(tempfile.mkdtemp(prefix="attest-gunicorn-")) / "gunicorn.log"
    server = Gunicorn(env, workers, threads, log)
    try:
        server.wait_ready(workers)
        yield server
    finally:
        server.stop()


def first_engagement(url: str, token: str) -> int:
    import requests
    return requests.get(f"{url}/api/v1/engagements", headers={"Authorization": f"Bearer {token}"},
                        timeout=60).json()["items"][0]["id"]


def stream_upload(url: str, engagement_id: int, token: str, request_id: int, path: Path,
                  chunk: int = 1024 * 1024) -> tuple[int, str]:
    """POST a file as multipart without holding it in memory (http.client, Content-Length known). Its effective
    date is yesterday in UTC, which is not after the engagement's local today in any timezone."""
    boundary = uuid.uuid4().hex
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"request_id\"\r\n\r\n{request_id}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"effective_date\"\r\n\r\n"
            f"{yesterday}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{path.name}\"\r\nContent-Type: application/pdf\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    host, port = url.split("//", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=3600)
    connection.putrequest("POST", f"/api/v1/engagements/{engagement_id}/evidence")
    for name, value in (("Authorization", f"Bearer {token}"),
                        ("Content-Type", f"multipart/form-data; boundary={boundary}"),
                        ("Content-Length", str(len(head) + path.stat().st_size + len(tail)))):
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(head)
    with open(path, "rb") as handle:
        while data := handle.read(chunk):
            connection.send(data)
    connection.send(tail)
    response = connection.getresponse()
    body = response.read().decode(errors="replace")
    connection.close()
    return response.status, body


class PeakRss:
    """Samples the RSS of a set of processes every ``interval`` seconds while in the ``with`` block; ``baseline``
    and ``peak`` in bytes (the total on entry, the largest total seen)."""

    def __init__(self, pids: list[int], interval: float = 0.05):
        self.processes = [psutil.Process(p) for p in pids]
        self.interval, self.peak, self.stop = interval, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def current(self) -> int:
        return sum(p.memory_info().rss for p in self.processes if p.is_running())

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self.peak = max(self.peak, self.current())

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = self.current()
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        self.thread.join()
