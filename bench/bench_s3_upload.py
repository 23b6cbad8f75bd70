"""A 1 GiB upload through Attest (gunicorn, one worker) into the S3 store on SeaweedFS, against the plain
baseline of the same run: ``sha256sum`` of the file plus a plain boto3 ``upload_file`` of it to the same
server. Prints both times, the ratio (baseline / Attest; goal >= 0.7) and the worker's memory growth
(peak RSS during the upload minus before; goal <= 64 MiB).

    .venv/bin/python bench/bench_s3_upload.py [--mib 1024] [--database sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from prod_setup import PeakRss, first_engagement, gunicorn, stack, stream_upload

from tests.fixtures.load import uploadable_requests

MIB = 1024 * 1024


def make_file(path: Path, mib: int) -> None:
    with open(path, "wb") as out:
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        for _ in range(mib):
            out.write(os.urandom(MIB))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--database", default="sqlite", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    with stack(args.database, "s3", {"MAX_UPLOAD_MB": str(args.mib + 16)}) as s:
        path = s.directory / "big.pdf"
        make_file(path, args.mib)
        size = path.stat().st_size
        started = time.perf_counter()
        digest = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
        hashed = time.perf_counter() - started
        started = time.perf_counter()
        s.seaweedfs.client().upload_file(str(path), s.bucket, "baseline/big.pdf")
        uploaded = time.perf_counter() - started
        baseline = hashed + uploaded
        with gunicorn(s.env, workers=1, threads=4) as server:
            engagement = first_engagement(server.url, s.provider_token)
            request_id = uploadable_requests(server.url, engagement, s.provider_token, limit=1)[0]
            with PeakRss(server.worker_pids()) as memory:
                started = time.perf_counter()
                status, body = stream_upload(server.url, engagement, s.provider_token, request_id, path)
                attest = time.perf_counter() - started
        if status != 201:
            sys.exit(f"upload failed: {status} {body[:500]}")
        stored = json.loads(body)["sha256"]
        print(f"file: {size / MIB:.0f} MiB; sha256 {'matches' if stored == digest else 'DIFFERS'}")
        print(f"baseline: sha256sum {hashed:.2f}s + boto3 upload_file {uploaded:.2f}s = {baseline:.2f}s "
              f"({size / MIB / baseline:.0f} MB/s)")
        print(f"attest:   HTTP upload through gunicorn into S3 {attest:.2f}s ({size / MIB / attest:.0f} MB/s)")
        print(f"ratio baseline/attest: {baseline / attest:.2f} (goal >= 0.7)")
        print(f"worker memory: {memory.baseline / MIB:.0f} MiB before, peak {memory.peak / MIB:.0f} MiB, "
              f"growth {(memory.peak - memory.baseline) / MIB:.0f} MiB (goal <= 64)")


if __name__ == "__main__":
    main()
