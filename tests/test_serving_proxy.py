"""Slow clients cannot stall the service behind the shipped nginx (``nginx.conf.in``): ten clients sending a
header line every second hold nginx connections, not gunicorn threads, and /healthz answers at once through
nginx the whole time — while gunicorn alone, with as few threads, is stalled by them. nginx and gunicorn are
real processes on loopback."""
from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import string
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.fixtures.ports import free_port
from tests.fixtures.prod import ROOT
from tests.fixtures.server import start_gunicorn

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLOW_CLIENTS = 10


@contextlib.contextmanager
def start_nginx(upstream: str, runtime: Path):
    """nginx with the shipped configuration, on a free loopback port, in front of ``upstream``."""
    runtime.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = string.Template((ROOT / "nginx.conf.in").read_text()).substitute(
        listen=f"127.0.0.1:{port}", upstream=upstream, runtime=str(runtime), max_body=101)
    (runtime / "nginx.conf").write_text(config)
    with open(runtime / "out.log", "wb") as out:
        process = subprocess.Popen([NGINX, "-c", str(runtime / "nginx.conf"), "-p", str(runtime),
                                    "-e", str(runtime / "error.log")], stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline, (runtime / "error.log").read_text()
            threading.Event().wait(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _slow_clients(url: str, stop: threading.Event) -> list[threading.Thread]:
    """Clients that send a request line, then one header line a second, never finishing their headers."""
    host, port = url.removeprefix("http://").split(":")

    def crawl():
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: attest\r\n")
            n = 0
            while not stop.wait(1):
                n += 1
                with contextlib.suppress(OSError):
                    sock.sendall(f"X-Slow-{n}: {n}\r\n".encode())
    threads = [threading.Thread(target=crawl, daemon=True) for _ in range(SLOW_CLIENTS)]
    for thread in threads:
        thread.start()
    return threads


def _healthz_latencies(url: str, seconds: float) -> list[float]:
    latencies, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            requests.get(f"{url}/healthz", timeout=4).raise_for_status()
            latencies.append(time.monotonic() - started)
        except requests.RequestException:
            latencies.append(float("inf"))
        threading.Event().wait(0.2)
    return latencies


def _under_slow_clients(url: str, seconds: float) -> list[float]:
    """/healthz latencies at ``url`` while ten slow clients trickle their headers to it."""
    stop = threading.Event()
    slow = _slow_clients(url, stop)
    try:
        threading.Event().wait(1.5)  # every slow client connected and trickling
        return _healthz_latencies(url, seconds)
    finally:
        stop.set()
        for thread in slow:
            thread.join(5)


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (apt-get install nginx)")
def test_ten_slow_clients_do_not_stall_healthz_behind_nginx(app, database_url, tmp_path):
    with start_gunicorn(database_url, app.config["EVIDENCE_STORE"], tmp_path / "gunicorn.log",
                        workers=1, threads=4) as gunicorn:
        upstream = gunicorn.url.removeprefix("http://")
        with start_nginx(upstream, tmp_path / "nginx") as proxied:
            through_nginx = _under_slow_clients(proxied, seconds=4)
        direct = _under_slow_clients(gunicorn.url, seconds=3)  # the control: the same clients at gunicorn itself
    print(f"/healthz under {SLOW_CLIENTS} slow clients: through nginx {len(through_nginx)} answers, median "
          f"{sorted(through_nginx)[len(through_nginx) // 2] * 1000:.0f} ms, max {max(through_nginx) * 1000:.0f} ms; "
          f"gunicorn alone {direct}")
    assert max(through_nginx) < 2, through_nginx
    assert max(direct) == float("inf") or max(direct) > 2, f"gunicorn alone was not stalled: {direct}"
