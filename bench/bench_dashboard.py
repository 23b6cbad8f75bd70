"""Dashboard benchmark: median time and SQL statements of the overdue dashboard at scale.

    .venv/bin/python bench/bench_dashboard.py [--scale N] [--database-url URL] [--runs R]

Builds or reuses ``demo --scale N`` data (see bench_register.py, whose builder and query counter it
uses), then times ``GET /api/v1/dashboard/overdue`` and the ``/dashboard`` page (Demo Bank's
client_admin: every engagement) plus one engagement's filtered view, and prints the median, p95 and
statements per request. Run at two scales to see that the statement count does not grow.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_register import QueryCounter, build, percentile, timer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.gettempdir()}/attest-bench/attest-bench-{args.scale}.db"
    os.makedirs(os.path.join(tempfile.gettempdir(), "attest-bench"), exist_ok=True)
    app = build(url, args.scale, False)
    import models
    from services.people.accounts import create_token
    from web.auth import start_session
    admin = models.User.get(models.User.email == "admin@demobank.example")
    requests = models.EvidenceRequest.select().count()
    overdue = models.EvidenceRequest.select().where(models.EvidenceRequest.status == "overdue").count()
    token = create_token(admin)
    models.db.close()
    # a real session (bound to this client, as web.auth's loader checks), on a route only this app has
    app.add_url_rule("/__bench__/sign-in", "bench_sign_in",
                     lambda: (start_session(models.User.get_by_id(admin.id)), "ok")[1])
    api, browser = app.test_client(), app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert browser.get("/__bench__/sign-in").status_code == 200
    routes = [("/api/v1/dashboard/overdue", api), ("/api/v1/dashboard/overdue?engagement=2&window=30", api),
              ("/api/v1/dashboard/overdue?framework=CPS234&sort=engagement", api),
              ("/dashboard", browser), ("/dashboard?engagement=2", browser)]
    print(f"\n{'SQLite' if not models.is_postgres() else 'PostgreSQL'}: {requests:,} requests, {overdue:,} overdue, "
          f"{args.runs} runs per route")
    print(f"{'route':58} {'median ms':>9} {'p95 ms':>8} {'queries':>7}")
    for path, client in routes:
        assert client.get(path).status_code == 200, path
        times, queries = [], set()
        for _ in range(args.runs):
            with QueryCounter(models.db.obj) as counter, timer() as elapsed:
                assert client.get(path).status_code == 200
            times.extend(elapsed)
            queries.add(counter.count)
        print(f"{path:58} {statistics.median(times):9.1f} {percentile(times, 95):8.1f} "
              f"{'/'.join(map(str, sorted(queries))):>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
