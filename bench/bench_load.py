"""The full load benchmark: gunicorn (the checked-in config) on PostgreSQL (a cluster of its own) and the S3
store on SeaweedFS, loopback only, bounded in time.

1. Upload throughput, one worker against four: ``--uploaders`` clients POST ``--file-mib`` PDFs for
   ``--throughput-seconds`` each; MB/s and the ratio.
2. Mixed load on four workers for ``--seconds``: ``--providers`` uploading, ``--reviewers`` reviewing, and
   ``--readers`` listing requests, the review queue and the dashboard; p50/p95 per route, every status, zero
   5xx expected; then nothing lost (every 201 is a row with its file) or orphaned (verify-evidence), and
   each worker's RSS.

    .venv/bin/python bench/bench_load.py [--seconds 60] [--providers 50] [--reviewers 10] [--readers 5]
                                         [--scale 0] [--database postgresql|sqlite]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from prod_setup import ROOT, first_engagement, flask, gunicorn, stack

from services.demo import files as demo_files
from tests.fixtures.load import Target, run_load, upload_pdf, uploadable_requests

MIB = 1024 * 1024


def throughput(env, workers: int, token: str, uploaders: int, seconds: float, file_mib: int) -> float:
    with gunicorn(env, workers=workers, threads=4) as server:
        engagement = first_engagement(server.url, token)
        ids = uploadable_requests(server.url, engagement, token, limit=8)
        if not ids:
            raise SystemExit("no request to upload to")
        sent, lock, until = [0], threading.Lock(), time.monotonic() + seconds
        padding = b"0" * (file_mib * MIB)

        def client(k: int) -> None:
            n = 0
            while time.monotonic() < until:
                n += 1
                data = demo_files.pdf(f"throughput {workers} {k} {n}") + padding
                if upload_pdf(server.url, engagement, token, ids[(k + n) % len(ids)], data).status_code == 201:
                    with lock:
                        sent[0] += len(data)
        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(uploaders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sent[0] / MIB / (time.perf_counter() - started)


def largest_engagement(url: str, token: str) -> int:
    """The reviewer's engagement with the most requests (a scale engagement once ``--scale`` ran)."""
    import requests
    headers = {"Authorization": f"Bearer {token}"}
    page = requests.get(f"{url}/api/v1/engagements?per_page=200", headers=headers, timeout=120).json()["items"]
    sizes = {e["id"]: requests.get(f"{url}/api/v1/engagements/{e['id']}/requests?per_page=1", headers=headers,
                                   timeout=120).json()["total"] for e in page[:5] + page[-5:]}
    return max(sizes, key=sizes.get)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--providers", type=int, default=50)
    parser.add_argument("--reviewers", type=int, default=10)
    parser.add_argument("--readers", type=int, default=5)
    parser.add_argument("--uploaders", type=int, default=8)
    parser.add_argument("--file-mib", type=int, default=4)
    parser.add_argument("--throughput-seconds", type=float, default=20)
    parser.add_argument("--scale", type=int, default=0, help="demo --scale N engagements first (slow)")
    parser.add_argument("--database", default="postgresql", choices=("postgresql", "sqlite"))
    args = parser.parse_args()
    with stack(args.database, "s3") as s:
        if args.scale:
            flask(s.env, "demo", "--scale", str(args.scale))
        print(f"database {s.env['DATABASE_URL'].split('@')[-1]}, store {s.env['EVIDENCE_STORE']}")
        one = throughput(s.env, 1, s.provider_token, args.uploaders, args.throughput_seconds, args.file_mib)
        four = throughput(s.env, 4, s.provider_token, args.uploaders, args.throughput_seconds, args.file_mib)
        print(f"upload throughput ({args.uploaders} clients, {args.file_mib} MiB files): 1 worker {one:.1f} MB/s, "
              f"4 workers {four:.1f} MB/s, ratio {four / one:.2f}")
        with gunicorn(s.env, workers=4, threads=4) as server:
            engagement = first_engagement(server.url, s.provider_token)
            target = Target(server.url, engagement, s.provider_token, s.reviewer_token,
                            uploadable_requests(server.url, engagement, s.provider_token, limit=40),
                            read_engagement_id=largest_engagement(server.url, s.reviewer_token))
            print(f"readers list engagement {target.read_engagement_id}'s requests")
            stats = run_load(target, args.seconds, uploaders=args.providers, reviewers=args.reviewers,
                             readers=args.readers)
            rss = [psutil.Process(p).memory_info().rss / MIB for p in server.worker_pids()]
            lost = uploads_lost(server.url, s.reviewer_token, stats.uploaded, s.env)
        print(f"mixed load, {args.seconds:.0f}s: {args.providers} providers, {args.reviewers} reviewers, "
              f"{args.readers} readers on 4 workers x 4 threads")
        print(stats.table())
        print(f"5xx: {stats.server_errors() or 'none'}; uploads 201: {len(stats.uploaded)}, "
              f"failed: {len(stats.failed_uploads)}")
        print(f"worker RSS after the run: {', '.join(f'{r:.0f}' for r in rss)} MiB "
              f"(median {statistics.median(rss):.0f})")
        print(f"every 201 upload re-read: {len(stats.uploaded) - len(lost)} of {len(stats.uploaded)} have their row "
              f"and file, re-hashed from the store{'; LOST: ' + ', '.join(lost[:10]) if lost else ''}")
        if args.scale:  # demo --scale writes evidence rows without files: verify-evidence would list them all
            print("verify-evidence: skipped (the --scale data set's evidence rows have no files by design)")
            return
        check = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "app", "verify-evidence",
                                "--quiet"], cwd=ROOT, env=s.env, capture_output=True, text=True)
        print(f"verify-evidence: exit {check.returncode}: {(check.stdout + check.stderr).strip().splitlines()[-1:]}")


def uploads_lost(url: str, token: str, uploaded: list[dict], env: dict[str, str]) -> list[str]:
    """Every upload answered 201: its row through the API, its file re-hashed in the store; what is missing."""
    import os

    import requests

    from evidence_store import open_store
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AWS_", "S3_"))})
    store, lost = open_store(env["EVIDENCE_STORE"]), []
    headers = {"Authorization": f"Bearer {token}"}
    for body in uploaded:
        row = requests.get(f"{url}/api/v1/evidence/{body['id']}", headers=headers, timeout=60)
        if row.status_code != 200 or row.json().get("sha256") != body["sha256"]:
            lost.append(f"row {body['id']}")
        elif store.rehash(body["sha256"]) != body["sha256"]:
            lost.append(f"file {body['sha256'][:12]}")
    return lost

if __name__ == "__main__":
    main()
