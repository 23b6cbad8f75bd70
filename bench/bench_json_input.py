"""JSON body memory benchmark: what a 98 MB JSON body does to a real gunicorn worker.

    .venv/bin/python bench/bench_json_input.py [--app-dir DIR] [--mb 98] [--chunked]

Starts gunicorn (one sync worker) from ``--app-dir`` (default: this checkout; point it at an older
``git archive`` to measure "before") on a scratch SQLite database with one client_admin and an API token,
then POSTs ``{"name": "xxx…"}`` of ``--mb`` megabytes to ``/api/v1/engagements`` (Content-Length, or
chunked with ``--chunked``) while sampling the worker's RSS every 10 ms with psutil. Prints the status,
the worker's RSS before, its peak during the request, and the time to the answer.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
PASSWORD = "Correct-Horse-Battery-9"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _flask(app_dir: str, env: dict, *args: str, stdin: str = "") -> str:
    done = subprocess.run([os.path.join(BIN, "flask"), "--app", "app", *args], cwd=app_dir, env=env, input=stdin,
                          capture_output=True, text=True, check=True)
    return done.stdout


def _wait(port: int, process: subprocess.Popen) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit("gunicorn exited")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def _post(port: int, token: str, megabytes: int, chunked: bool) -> int:
    body_len = megabytes * 2**20
    piece = b"x" * 2**20
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def chunks():
        yield b'{"name": "'
        for _ in range(megabytes):
            yield piece
        yield b'"}'

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if not chunked:
        headers["Content-Length"] = str(body_len + 12)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        connection.request("POST", "/api/v1/engagements", body=chunks(), headers=headers, encode_chunked=chunked)
    status = connection.getresponse().status
    connection.close()
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-dir", default=ROOT)
    parser.add_argument("--mb", type=int, default=98)
    parser.add_argument("--chunked", action="store_true")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="attest-bench-json-")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{scratch}/bench.db", "EVIDENCE_STORE": f"{scratch}/evidence",
           "SECRET_KEY": "bench-secret-key-bench-secret-key", "SESSION_COOKIE_SECURE": "0", "SCHEDULER": "off"}
    _flask(args.app_dir, env, "init-db")
    _flask(args.app_dir, env, "create-user", "--email", "admin@bank.example", "--role", "client_admin",
           "--org", "Bank", stdin=PASSWORD + "\n")
    token = _flask(args.app_dir, env, "create-token", "--email", "admin@bank.example").strip().splitlines()[-1]
    port = _port()
    server = subprocess.Popen([os.path.join(BIN, "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}",
                               "app:create_app()"], cwd=args.app_dir, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(port, server)
        worker = psutil.Process(server.pid).children()[0]
        _post(port, token, 0, False)  # warm: imports and the first connection done before measuring
        before = worker.memory_info().rss
        peak, stop = [before], threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], worker.memory_info().rss)
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        status = _post(port, token, args.mb, args.chunked)
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
        mode = "chunked" if args.chunked else "Content-Length"
        mib = [round(v / 2**20) for v in (before, peak[0], peak[0] - before)]
        print(f"{args.app_dir}: {args.mb} MB JSON body ({mode}) -> {status} in {elapsed:.2f} s; worker RSS "
              f"{mib[0]} MiB before, peak {mib[1]} MiB (+{mib[2]} MiB)")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
