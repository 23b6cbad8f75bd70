"""Scheduler benchmark at scale: a tick with nothing due, and a tick after 30 days of downtime.

    .venv/bin/python bench/bench_tick.py [--scale 280] [--database-url URL] [--runs 15] [--fresh]

Builds (or reuses) ``demo --scale N`` data like ``bench_register.py`` (default: SQLite in
``$TMPDIR/attest-bench/attest-tick-N.db``), then:

1. one catch-up tick now (the scale data was generated without the scheduler: evidence to expire,
   reminders of the last day, clocks to breach), timed and counted;
2. ``--runs`` ticks a second apart: nothing is due, so this is the steady-state cost of a pass (the
   planning watermark check, state-move UPDATEs, expiry and alert range queries over a one-second
   window, the mail queues); median, p95 and SQL statements per pass;
3. one tick 30 days later, as if the scheduler had been down for a month: time, SQL statements and what
   it caught up. It runs inside a transaction that is rolled back, so the data set stays reusable.

``--explain`` also prints the query plan of every statement of a tick with nothing due (SQLite's
``EXPLAIN QUERY PLAN``, PostgreSQL's ``EXPLAIN``; neither runs the statement), to check that each one
is an index search and none scans a large table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_register import QueryCounter, build, percentile, scratch_url  # noqa: E402


def timed_tick(now: dt.datetime):
    from services.alerts.scheduler import tick
    start = time.perf_counter()
    result = tick(now=now)
    return (time.perf_counter() - start) * 1000, result


class Capture:
    """Keeps every statement (with its parameters) sent through ``Database.execute_sql`` while active."""

    def __init__(self, database) -> None:
        self.database = database
        self.statements: list[tuple[str, tuple]] = []

    def __enter__(self) -> "Capture":
        original = self.database.execute_sql

        def capturing(sql, params=None, *args, **kwargs):
            self.statements.append((sql, tuple(params or ())))
            return original(sql, params, *args, **kwargs)

        self.database.execute_sql = capturing
        return self

    def __exit__(self, *exc) -> None:
        del self.database.execute_sql


def explain(now: dt.datetime) -> None:
    """The plan of each distinct statement of one tick with nothing due (transaction control left out)."""
    import models
    with Capture(models.db.obj) as capture:
        timed_tick(now)
    seen = set()
    postgres = models.is_postgres()
    for sql, params in capture.statements:
        if sql in seen or not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "DELETE")):
            continue
        seen.add(sql)
        if sql.lstrip().upper().startswith("SELECT PG_ADVISORY"):
            continue
        cursor = models.db.execute_sql(("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + sql, params)
        plan = [row[0] for row in cursor.fetchall()] if postgres else [row[3] for row in cursor.fetchall()]
        print(f"\n{sql[:300]}{' …' if len(sql) > 300 else ''}")
        for line in plan:
            print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=280)
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the plan of each statement of an idle tick")
    args = parser.parse_args()
    app = build(scratch_url(args.database_url, args.scale, "attest-tick"), args.scale, args.fresh)
    import models
    from models import utcnow
    with app.app_context():
        print(f"{models.EvidenceRequest.select().count():,} requests, {models.Evidence.select().count():,} evidence, "
              f"{models.Clock.select().count():,} clocks, {models.Engagement.select().count()} engagements")
        now = utcnow().replace(microsecond=0)
        ms, result = timed_tick(now)
        print(f"catch-up tick: {ms:,.0f} ms  {result.describe()}")
        times, queries = [], []
        for run in range(1, args.runs + 1):
            with QueryCounter(models.db.obj) as counter:  # a second apart: every alert job has a window to look at
                ms, result = timed_tick(now + dt.timedelta(seconds=run))
            assert not result.changed, result.describe()
            times.append(ms)
            queries.append(counter.count)
        print(f"tick with nothing due ({args.runs} runs): median {statistics.median(times):.1f} ms, "
              f"p95 {percentile(times, 95):.1f} ms, {statistics.median(queries):.0f} SQL statements")
        if args.explain:
            explain(now + dt.timedelta(seconds=args.runs + 1))
        with models.db.atomic() as txn, QueryCounter(models.db.obj) as counter:
            ms, result = timed_tick(now + dt.timedelta(days=30))
            print(f"tick after 30 days of downtime: {ms:,.0f} ms, {counter.count:,} SQL statements  "
                  f"{result.describe()}")
            txn.rollback()


if __name__ == "__main__":
    main()
