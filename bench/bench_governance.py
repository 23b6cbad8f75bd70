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
   whole tick with nothing due, ``--runs`` times a second apart;
4. with ``--report``, the performance report of the largest engagement for the last 12 months, built as the
   pack worker builds it (``reports.run_pending``): seconds to ready and the renderer child's peak RSS.

The agenda is timed for the largest engagement's weekly and quarterly executive meetings (each forum hears only
its own tier's findings and actions).

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
    parser.add_argument("--report", action="store_true", help="also build a 12-month performance report")
    parser.add_argument("--name", default="attest-bench", help="the kept SQLite file's name (without --database-url)")
    args = parser.parse_args()
    runs = max(15, args.runs)
    t0 = time.perf_counter()
    app = build(scratch_url(args.database_url, args.scale, args.name), args.scale, fresh=False)
    print(f"data set ready in {time.perf_counter() - t0:.0f}s")

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

    def weekly(engagement_id: int, tier: str = "operational") -> int:
        return (Meeting.select(Meeting.id).join(Forum).where(Meeting.engagement == engagement_id,
                                                             Forum.tier == tier,
                                                             Meeting.status == "scheduled").scalar())
    big, small, steering = weekly(largest), weekly(demo_engagement), weekly(largest, "executive")
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
        (api, f"/api/v1/meetings/{steering}", "largest engagement, executive forum"),
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
        t0 = time.perf_counter()
        escalated = tick(now=base).governance.actions_escalated  # the bench's overdue actions: not an idle pass
        print(f"first pass after adding actions: {time.perf_counter() - t0:.1f}s, {escalated} escalated")
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
        if args.report:
            print(report_row(app, largest, admin))
    return 0


def report_row(app, engagement_id: int, admin) -> str:
    """The largest engagement's 12-month performance report, queued and built as the pack worker builds it."""
    import json

    from models import AuditEvent
    from services.auditors import reports
    today = dt.date.today()
    start = (today.replace(day=1) - dt.timedelta(days=335)).replace(day=1)
    report = reports.request_report(admin, engagement_id, {"period_start": start.isoformat(),
                                                           "period_end": today.isoformat()})
    t0 = time.perf_counter()
    built = [r for r in reports.run_pending(app.config["EVIDENCE_STORE"], worker="bench") if r.id == report.id]
    seconds = time.perf_counter() - t0
    event = AuditEvent.get_or_none(AuditEvent.action == "report.build", AuditEvent.object_id == str(report.id))
    details = json.loads(event.details) if event else {}
    status = built[0].status if built else "not built"
    return (f"{'12-month performance report, largest engagement':<60} {seconds * 1000:9.1f} {'':>8} {'-':>7}  "
            f"{status}, {details.get('pages')} pages, renderer peak RSS {details.get('render_peak_rss_mib')} MiB")


def row(what: str, timing: Timing, data: str) -> str:
    return f"{what:<60} {timing.median:9.1f} {timing.p95:8.1f} {timing.queries:>7}  {data}"


if __name__ == "__main__":
    sys.exit(main())
