"""Contract performance at scale: the scorecard of one engagement over 36 months (API and page), the client's view
across engagements, a 10,000-row results import (time, CPU time, peak RSS growth), and the pass over a month's
credits of every engagement.

    .venv/bin/python bench/bench_performance.py --scale 5            # SQLite, kept under $TMPDIR/attest-bench
    .venv/bin/python bench/bench_performance.py --scale 280 --database-url postgresql://…/attest_bench

The data set is ``bench_register.build`` (``demo`` + ``demo --scale N``, whose engagements carry 12 KPIs and
three years of results each). Each import run adds a new engagement with 64 weekly KPIs to the database.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_register import build, get_ok, measure, scratch_url, signed_in_clients  # noqa: E402


def months_ago(n: int) -> str:
    today = dt.date.today()
    year, month = divmod(today.year * 12 + today.month - 1 - n, 12)
    return f"{year:04d}-{month + 1:02d}"


def import_run(admin, contributor, rows: int) -> tuple[float, float, float]:
    """A fresh engagement with 64 weekly KPIs; import ``rows`` results in one transaction: (seconds, this
    process's CPU seconds, growth of its peak RSS in MB). On a machine shared by other builds the CPU seconds are
    the steadier figure (on SQLite the database works inside this process)."""
    from domain.performance import period_containing
    from services.performance import kpis, results
    from services.register.engagements import create_accepted_engagement
    engagement = create_accepted_engagement(admin, {
        "name": f"Import bench {time.time_ns()}", "provider": contributor.organisation.name,
        "frameworks": ["CONTRACT"], "place": "NSW",
        "start_date": (dt.date.today() - dt.timedelta(days=1300)).isoformat()})
    for i in range(64):
        kpis.create_kpi(admin, engagement.id, {"template": "ADHERENCE", "code": f"W{i:02d}", "name": f"Weekly {i}"})
    week = period_containing(engagement.start_date + dt.timedelta(days=7), "weekly")
    lines = ["kpi,period,value,volume"]
    while len(lines) <= rows:
        for i in range(64):
            lines.append(f"W{i:02d},{week.text},{88 + i % 7}.5,1000")
        week = week.next()
    data = ("\n".join(lines[:rows + 1]) + "\n").encode()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, cpu0 = time.perf_counter(), time.process_time()
    stored = results.import_file(contributor, engagement.id, data)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert len(stored) == rows
    return seconds, cpu, rss_growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--database-url")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--per-engagement", action="store_true",
                        help="also time recomputing every engagement's credits one engagement at a time")
    args = parser.parse_args()
    app = build(scratch_url(args.database_url, args.scale), args.scale, args.fresh)
    import models
    from services.demo.scale import SCALE_PREFIX
    from services.people.accounts import create_token
    from services.performance import credits
    admin = models.User.get(models.User.email == "admin@demobank.example")
    api, browser = signed_in_clients(app, admin, create_token(admin))
    largest = (models.Engagement.select().where(models.Engagement.name.startswith(SCALE_PREFIX))
               .order_by(models.Engagement.id).first())  # three years of results, like every scale engagement
    window = f"from={months_ago(35)}&to={months_ago(0)}"
    routes = {"API scorecard, 36 months": f"/api/v1/engagements/{largest.id}/scorecard?{window}",
              "page scorecard, 36 months": f"/engagements/{largest.id}/performance?{window}",
              "page across engagements": "/performance"}
    engagements = models.Engagement.select().count()
    results_count = models.KpiResult.select().count()
    print(f"{engagements} engagements, {results_count:,} KPI results; load average {os.getloadavg()}")
    print(f"{'route':32} {'median ms':>10} {'p95 ms':>8} {'SQL':>6}")
    for name, path in routes.items():
        client = api if path.startswith("/api/") else browser
        get_ok(client, path)
        timing = measure(lambda c=client, p=path: get_ok(c, p), args.runs, models.db.obj)
        print(f"{name:32} {timing.median:10.1f} {timing.p95:8.1f} {timing.queries:>6}")
    month = months_ago(1)
    cpu0 = time.process_time()
    passes = measure(lambda: credits.recompute_month_everywhere(month), max(3, args.runs // 4), models.db.obj)
    pass_cpu = (time.process_time() - cpu0) * 1000 / max(3, args.runs // 4)
    print(f"scheduler pass, {month} credits of all {engagements} engagements: median {passes.median:.0f} ms, "
          f"p95 {passes.p95:.0f} ms, {pass_cpu:.0f} ms CPU each, {passes.queries} statements")
    if args.per_engagement:
        everyone = list(models.Engagement.select())
        t0 = time.perf_counter()
        with models.transaction():
            for engagement in everyone:
                credits.recompute(engagement)
        print(f"recompute every engagement's credits one by one (all months): "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms for {len(everyone)}")
    contributor = models.User.get(models.User.email == "agent@democc.example")
    if args.rows:
        seconds, cpu, rss = import_run(admin, contributor, args.rows)
        print(f"import {args.rows:,} rows in one transaction: {seconds:.2f} s ({cpu:.2f} s CPU in this process), "
              f"peak RSS grew {rss:.0f} MB (to {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB); "
              f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
