"""Register benchmark: latency and SQL queries per request on a scale data set.

    .venv/bin/python bench/bench_register.py [--scale N] [--database-url URL] [--runs R] [--fresh]

Builds (or reuses) ``demo --scale N`` data in a scratch database (default: SQLite in
``$TMPDIR/attest-bench/``), then requests each route with the Flask test client, signed
in as Demo Bank's client_admin (API routes: a Bearer token; pages: a browser session),
and prints median and p95 wall time, SQL statements per request, and table sizes.
Run on demand; it is not part of the pytest suite. See bench/README.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

from flask import Flask
from flask.testing import FlaskClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


class QueryCounter:
    """Counts (and keeps) every SQL statement sent through ``Database.execute_sql``.

    Every peewee query, whatever builds it, ends in ``execute_sql``; the counter wraps
    that method on the bound database instance and restores it on exit.
    """

    def __init__(self, database) -> None:
        self.database = database
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def __enter__(self) -> "QueryCounter":
        original = self.database.execute_sql
        statements = self.statements

        def counting(sql, params=None, *args, **kwargs):
            statements.append(sql)
            return original(sql, params, *args, **kwargs)

        self.database.execute_sql = counting
        return self

    def __exit__(self, *exc) -> None:
        del self.database.execute_sql  # back to the class's method


@contextmanager
def timer() -> Iterator[list[float]]:
    out: list[float] = []
    start = time.perf_counter()
    yield out
    out.append((time.perf_counter() - start) * 1000)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))  # nearest-rank
    return ordered[k]


@dataclass
class Timing:
    """What ``measure`` saw: milliseconds (median, p95), the SQL statement counts of the runs ("4/5" when they
    differ) and the statements of the last run."""
    median: float
    p95: float
    queries: str
    statements: list[str] = field(default_factory=list)


def measure(run: Callable[[], object], runs: int, database) -> Timing:
    """Time ``run()`` ``runs`` times, counting the SQL statements each call sends through ``database``."""
    times: list[float] = []
    counts: set[int] = set()
    statements: list[str] = []
    for _ in range(runs):
        with QueryCounter(database) as counter, timer() as elapsed:
            run()
        times.extend(elapsed)
        counts.add(counter.count)
        statements = counter.statements
    return Timing(statistics.median(times), percentile(times, 95), "/".join(str(c) for c in sorted(counts)),
                  statements)


def get_ok(client: FlaskClient, path: str):
    """``GET path``, which must answer 200 (a timed request that fails would time the wrong thing)."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response


def scratch_url(database_url: str | None, scale: int, name: str = "attest-bench") -> str:
    """``--database-url``, or the kept SQLite file ``$TMPDIR/attest-bench/<name>-<scale>.db`` (made on first use)."""
    if database_url:
        return database_url
    directory = os.path.join(tempfile.gettempdir(), "attest-bench")
    os.makedirs(directory, exist_ok=True)
    return f"sqlite:///{directory}/{name}-{scale}.db"


def signed_in_clients(app: Flask, user, token: str) -> tuple[FlaskClient, FlaskClient]:
    """Two test clients of ``user``: one for the API (Bearer ``token``), one for pages with a real browser session
    (``web.auth.start_session``, bound to that client as the session loader checks), made by a sign-in route that
    only this benchmark's app instance has."""
    import models
    from web.auth import start_session
    app.add_url_rule("/__bench__/sign-in", "bench_sign_in",
                     lambda: (start_session(models.User.get_by_id(user.id)), "ok")[1])
    api, browser = app.test_client(), app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert browser.get("/__bench__/sign-in").status_code == 200
    return api, browser


def build(url: str, scale: int, fresh: bool) -> Flask:
    if url.startswith("sqlite:///") and fresh:
        path = url[len("sqlite:///"):]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    os.environ.setdefault("SECRET_KEY", "attest-bench")
    import models
    from app import create_app
    from models.schema import migrate_database
    app = create_app({"DATABASE_URL": url, "TESTING": False, "SESSION_COOKIE_SECURE": False,
                      "REMEMBER_COOKIE_SECURE": False, "SCHEDULER": "off"})
    models.db.connect(reuse_if_open=True)
    migrate_database()
    if not models.Framework.select().exists():
        from services.register.library_sync import load_library
        t0 = time.perf_counter()
        load_library()
        print(f"control library loaded ({time.perf_counter() - t0:.1f}s)")
    from services.demo import dataset as demo
    from services.demo import scale as demo_scale
    if not models.User.select().where(models.User.email == "admin@demobank.example").exists():
        demo.create_demo()
    bank = models.Organisation.get(models.Organisation.name == demo.CLIENT)
    have = (models.Engagement.select()
            .where(models.Engagement.client == bank,
                   models.Engagement.name.startswith(demo_scale.SCALE_PREFIX)).count())
    if have < scale:
        print(f"building scale data: {scale - have} engagement(s) ({have} already there)")
        t0 = time.perf_counter()
        demo_scale.create_scale(scale - have, progress=lambda msg: print("  " + msg))
        print(f"built in {time.perf_counter() - t0:.1f}s")
    else:
        print(f"reusing {have} scale engagement(s) in {url}")
    if models.is_postgres():
        vacuum_analyze()
    return app


def vacuum_analyze() -> None:
    """PostgreSQL: what autovacuum does on a bank's server (this machine's runs with it off): clear the dead
    row versions the build's updates left (the dashboard tally's rows are rewritten at every request's
    change) and gather the planner's statistics. Without it the timings are of a bloated, unplanned table."""
    import models
    t0 = time.perf_counter()
    models.db.close()
    models.db.connect()
    models.db.connection().autocommit = True  # VACUUM refuses to run inside a transaction
    models.db.execute_sql("VACUUM ANALYZE")
    # the build rewrites each tally row thousands of times with no vacuum in between: its indexes end up
    # ~40x their size (the covering one 284 MB for 158,000 rows, 7.6 MB rebuilt); a server vacuuming as it
    # goes keeps them far smaller (how small is not measured here); rebuilt so the timings are of a kept one
    models.db.execute_sql("REINDEX TABLE request_tally")
    models.db.close()
    print(f"VACUUM ANALYZE, REINDEX request_tally ({time.perf_counter() - t0:.1f}s)")


def table_sizes() -> dict[str, int]:
    import models
    return {m._meta.table_name: m.select().count() for m in models.ALL_MODELS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20, help="scale engagements to have (default 20)")
    parser.add_argument("--database-url", default=None,
                        help="default: sqlite in $TMPDIR/attest-bench/ (reused between runs)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per route (at least 15)")
    parser.add_argument("--fresh", action="store_true", help="delete the default SQLite database first")
    parser.add_argument("--show-sql", action="store_true", help="print the statements of one run per route")
    args = parser.parse_args()
    runs = max(15, args.runs)
    url = scratch_url(args.database_url, args.scale)
    app = build(url, args.scale, args.fresh)
    import peewee as pw

    import models
    from services.demo.dataset import CLIENT
    from services.people.accounts import create_token

    admin = models.User.get(models.User.email == "admin@demobank.example")
    bank = models.Organisation.get(models.Organisation.name == CLIENT)
    largest, largest_rows = (models.EvidenceRequest
                             .select(models.EvidenceRequest.engagement, pw.fn.COUNT(models.EvidenceRequest.id))
                             .join(models.Engagement)
                             .where(models.Engagement.client == bank)
                             .group_by(models.EvidenceRequest.engagement)
                             .order_by(pw.fn.COUNT(models.EvidenceRequest.id).desc()).tuples().first())
    overdue_rows = models.EvidenceRequest.select().where(models.EvidenceRequest.engagement == largest,
                                                         models.EvidenceRequest.status == "overdue").count()
    iso = models.Framework.get(models.Framework.code == "ISO27001-2022")
    obligations = models.Obligation.select().where(models.Obligation.framework == iso).count()
    controls = models.Control.select().count()
    token = create_token(admin)
    sizes = table_sizes()
    models.db.close()

    api, browser = signed_in_clients(app, admin, token)
    routes = [
        ("API", f"/api/v1/engagements/{largest}/requests?per_page=200", api, f"{largest_rows:,} requests"),
        ("API", f"/api/v1/engagements/{largest}/requests?status=overdue&per_page=200", api,
         f"{overdue_rows:,} overdue of {largest_rows:,}"),
        ("API", "/api/v1/controls?per_page=200", api, f"{controls} controls"),
        ("API", "/api/v1/frameworks/ISO27001-2022/obligations?per_page=200", api, f"{obligations} obligations"),
        ("page", "/library/ISO27001-2022", browser, f"{obligations} obligations"),
        ("page", "/coverage?framework=ISO27001-2022", browser, f"{obligations} obl. x {controls} ctl."),
        ("page", f"/engagements/{largest}/requests", browser, f"{largest_rows:,} requests"),
    ]
    database = models.db.obj
    results, notes = [], []
    for kind, path, client, rows in routes:
        first = client.get(path)
        if first.status_code == 404:
            notes.append(f"skipped {path}: 404 (route not built yet)")
            continue
        if first.status_code != 200:
            notes.append(f"skipped {path}: HTTP {first.status_code}")
            continue
        items = ""
        if kind == "API":
            body = first.get_json()
            items = f"{len(body['items'])}/{body['total']}"
        client.get(path)  # warm-up
        timing = measure(partial(get_ok, client, path), runs, database)
        results.append((path, timing.median, timing.p95, timing.queries, items, rows))
        if args.show_sql and timing.statements:
            print(f"\n-- {path}")
            for statement in timing.statements:
                print("   " + statement[:300])

    tick_ms = _steady_tick_ms(runs=5)
    backend = "PostgreSQL" if models.is_postgres() else "SQLite"
    print()
    print(f"Attest register benchmark: {backend}, {runs} runs per route, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPU(s)")
    width = max(len(r[0]) for r in results) if results else 10
    header = f"{'route'.ljust(width)}  {'median ms':>9}  {'p95 ms':>8}  {'queries':>7}  {'items':>9}  data set"
    print(header)
    print("-" * len(header))
    for path, median, p95, queries, items, rows in results:
        print(f"{path.ljust(width)}  {median:9.1f}  {p95:8.1f}  {queries:>7}  {items:>9}  {rows}")
    for note in notes:
        print(note)
    print(f"tick (a scheduler pass over every engagement, nothing left to change): median {tick_ms:.0f} ms")
    print()
    print("rows per table:")
    for table, count in sorted(sizes.items(), key=lambda kv: -kv[1]):
        if count:
            print(f"  {table.ljust(24)} {count:>10,}")
    print(f"  {'total'.ljust(24)} {sum(sizes.values()):>10,}")
    return 0


def _steady_tick_ms(runs: int) -> float:
    """Median time of a scheduler pass once the data set is up to date (what every interval costs)."""
    from services.alerts.scheduler import tick
    tick()  # bring the data set up to date first
    times: list[float] = []
    for _ in range(runs):
        with timer() as elapsed:
            tick()
        times.extend(elapsed)
    return statistics.median(times)


if __name__ == "__main__":
    sys.exit(main())
