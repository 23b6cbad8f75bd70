"""Governance benchmark at scale: a forum's agenda, the cross-engagement action log, and the scheduler's idle
governance step.

    .venv/bin/python bench/bench_governance.py [--scale 280] [--database-url URL] [--runs 20] [--actions 40]

Builds or reuses the ``demo --scale N`` data set of ``bench_register.py`` (default SQLite in
``$TMPDIR/attest-bench/attest-bench-N.db``), runs one catch-up tick (which gives every engagement its three
forums and their next meetings), adds ``--actions`` open actions per engagement (some overdue) once, then, as
Demo Bank's client admin:

1. ``GET /api/v1/meetings/<id>`` of the weekly meeting of the engagement with the most requests (its live
   agenda), and the meeting page; median, p95 and SQL statements per request;
2. ``GET /api/v1/actions`` (page 1 and a deep page) and the ``/actions`` page;
3. the scheduler's governance step with nothing due (``meetings.schedule_due`` + ``escalate_overdue``), and a
   whole tick with nothing due, ``--runs`` times a second apart.

The statement counts must not grow with rows: compare the agenda of an engagement with many overdue requests
and actions against the demo engagement's, and page 1 of the log against a deep page.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from functools import partial

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_register import (  # noqa: E402
    QueryCounter,
    Timing,
    build,
    get_ok,
    measure,
    percentile,
    scratch_url,
    signed_in_clients,  # noqa: E402
)


def add_actions(per_engagement: int) -> int:
    """Open actions at each engagement's weekly meeting, a third of them overdue; once."""
    from models import Action, Engagement, Forum, Meeting, User, transaction, utcnow
    if Action.select().where(Action.title.startswith("Bench action")).exists():
        return 0
    today = utcnow().date()
    rows = []
    for engagement in Engagement.select():
        meeting = (Meeting.select().join(Forum).where(Meeting.engagement == engagement.id,
                                                     Forum.tier == "operational").first())
        owner = User.select().where(User.organisation == engagement.provider_id).first()
        if meeting is None or owner is None:
            continue
        rows += [{"meeting": meeting.id, "engagement": engagement.id, "tier": "operational", "owner": owner.id,
                  "title": f"Bench action {n}", "due_date": today + dt.timedelta(days=(n % 3 - 1) * 10),
                  "status": "open", "created_at": utcnow()} for n in range(per_engagement)]
    with transaction():
        for i in range(0, len(rows), 500):
            Action.insert_many(rows[i:i + 500]).execute()
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=280)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--actions", type=int, default=40)
    args = parser.parse_args()
    runs = max(15, args.runs)
    app = build(scratch_url(args.database_url, args.scale), args.scale, fresh=False)

    import peewee as pw

    import models
    from models import Action, Engagement, EvidenceRequest, Forum, Meeting, User, utcnow
    from services.alerts.scheduler import tick
    from services.demo.dataset import ENGAGEMENT
    from services.governance import meetings
    from services.people.accounts import create_token

    t0 = time.perf_counter()
    tick(now=utcnow())
    print(f"catch-up tick {time.perf_counter() - t0:.1f}s; actions added: {add_actions(args.actions)}")
    largest = (EvidenceRequest.select(EvidenceRequest.engagement).group_by(EvidenceRequest.engagement)
               .order_by(pw.fn.COUNT(EvidenceRequest.id).desc()).scalar())
    demo_engagement = Engagement.get(Engagement.name == ENGAGEMENT).id

    def weekly(engagement_id: int) -> int:
        return (Meeting.select(Meeting.id).join(Forum).where(Meeting.engagement == engagement_id,
                                                             Forum.tier == "operational",
                                                             Meeting.status == "scheduled").scalar())
    big, small = weekly(largest), weekly(demo_engagement)
    overdue = EvidenceRequest.select().where(EvidenceRequest.engagement == largest,
                                             EvidenceRequest.status == "overdue").count()
    actions = Action.select().count()
    admin = User.get(User.email == "admin@demobank.example")
    token = create_token(admin)
    models.db.close()
    api, browser = signed_in_clients(app, admin, token)
    database = models.db.obj
    deep = max(1, actions // 50 - 1)
    routes = [
        (api, f"/api/v1/meetings/{big}", f"largest engagement, {overdue:,} overdue requests"),
        (api, f"/api/v1/meetings/{small}", "demo engagement"),
        (browser, f"/meetings/{big}", "page"),
        (api, "/api/v1/actions?per_page=50", f"{actions:,} actions"),
        (api, f"/api/v1/actions?per_page=50&page={deep}", "deep page"),
        (api, "/api/v1/actions?per_page=50&overdue=1", "overdue"),
        (browser, "/actions", "page"),
    ]
    print(f"\nAttest governance benchmark: {'PostgreSQL' if models.is_postgres() else 'SQLite'}, scale {args.scale}, "
          f"{runs} runs per route, load average {os.getloadavg()[0]:.1f}")
    header = f"{'route':<60} {'median ms':>9} {'p95 ms':>8} {'queries':>7}  data"
    print(header)
    print("-" * len(header))
    for client, path, what in routes:
        client.get(path)  # warm-up
        timing = measure(partial(get_ok, client, path), runs, database)
        print(row(path, timing, what))
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        base = utcnow()
        step, whole = [], []
        for i in range(runs):
            at = base + dt.timedelta(seconds=i + 1)
            with QueryCounter(database) as counter:
                t0 = time.perf_counter()
                meetings.schedule_due(at)
                meetings.escalate_overdue(at)
                step.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            tick(now=at + dt.timedelta(milliseconds=500))
            whole.append((time.perf_counter() - t0) * 1000)
        forums = f"{Forum.select().count():,} forums"
        timing = Timing(statistics.median(step), percentile(step, 95), str(counter.count))
        print(row("scheduler governance step, nothing due", timing, forums))
        print(row("whole tick, nothing due", Timing(statistics.median(whole), percentile(whole, 95), "-"), ""))
    return 0


def row(what: str, timing: Timing, data: str) -> str:
    return f"{what:<60} {timing.median:9.1f} {timing.p95:8.1f} {timing.queries:>7}  {data}"


if __name__ == "__main__":
    sys.exit(main())
