"""Scheduler benchmark at scale: a tick with nothing due, and a tick after 30 days of downtime.

    .venv/bin/python bench/bench_tick.py [--scale 280] [--database-url URL] [--runs 15] [--fresh]

Builds (or reuses) ``demo --scale N`` data like ``bench_register.py`` (default: SQLite in
``$TMPDIR/attest-bench/attest-tick-N.db``), then:

1. one catch-up tick now (the scale data was generated without the scheduler: evidence to expire,
   reminders of the last day, clocks to breach), timed and counted;
2. ``--runs`` ticks at the same instant: nothing is due, so this is the steady-state cost of a pass
   (planning check per engagement, state-move UPDATEs, expiry and alert range scans); median and p95;
3. one tick 30 days later, as if the scheduler had been down for a month: time and what it caught up.
   It runs inside a transaction that is rolled back, so the data set stays reusable.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_register import QueryCounter, build, percentile  # noqa: E402


def timed_tick(now: dt.datetime):
    from services.scheduler import tick
    start = time.perf_counter()
    result = tick(now=now)
    return (time.perf_counter() - start) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=280)
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    url = args.database_url
    if not url:
        directory = os.path.join(tempfile.gettempdir(), "attest-bench")
        os.makedirs(directory, exist_ok=True)
        url = f"sqlite:///{directory}/attest-tick-{args.scale}.db"
    app = build(url, args.scale, args.fresh)
    import models
    from models import utcnow
    with app.app_context():
        print(f"{models.EvidenceRequest.select().count():,} requests, {models.Evidence.select().count():,} evidence, "
              f"{models.Clock.select().count():,} clocks, {models.Engagement.select().count()} engagements")
        now = utcnow().replace(microsecond=0)
        ms, result = timed_tick(now)
        print(f"catch-up tick: {ms:,.0f} ms  {result.describe()}")
        times, queries = [], []
        for _ in range(args.runs):
            with QueryCounter(models.db.obj) as counter:
                ms, result = timed_tick(now)
            assert not result.changed, result.describe()
            times.append(ms)
            queries.append(counter.count)
        print(f"tick with nothing due ({args.runs} runs): median {statistics.median(times):.1f} ms, "
              f"p95 {percentile(times, 95):.1f} ms, {statistics.median(queries):.0f} SQL statements")
        with models.db.atomic() as txn:
            ms, result = timed_tick(now + dt.timedelta(days=30))
            print(f"tick after 30 days of downtime: {ms:,.0f} ms  {result.describe()}")
            txn.rollback()


if __name__ == "__main__":
    main()
