"""Evidence read benchmark at scale: the review queue, one request's page and the provider inbox.

    .venv/bin/python bench/bench_evidence.py [--scale 280] [--database-url URL] [--runs R]

Builds or reuses the same data set as ``bench_register.py`` (``demo --scale N``; default SQLite in
``$TMPDIR/attest-bench/attest-bench-N.db``; scale 280 is about 300,000 requests and takes a while to build
once), then times each route through the Flask test client as Demo Bank's risk reviewer (Bearer token; pages
with a session when they exist), counting SQL statements per request. The query count must not grow with
rows: compare the request with the most versions against one with a single version, and page 1 of the
queue against a deep page.
"""
from __future__ import annotations

import argparse
import os
import sys
from functools import partial

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_register import Timing, build, get_ok, measure, scratch_url, signed_in_clients  # noqa: E402


def measure_route(client, path: str, runs: int, database) -> Timing | None:
    """None when the route does not answer 200 (not built); else one warm-up, then ``runs`` timed requests."""
    if client.get(path).status_code != 200:
        return None
    client.get(path)  # warm-up
    return measure(partial(get_ok, client, path), runs, database)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=280)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    runs = max(15, args.runs)
    app = build(scratch_url(args.database_url, args.scale), args.scale, fresh=False)

    import peewee as pw

    import models
    from models import Engagement, Evidence, EvidenceRequest, Organisation, User
    from services.demo.dataset import CLIENT
    from services.evidence import evidence as evidence_service
    from services.people.accounts import create_token

    reviewer = User.get(User.email == "risk@demobank.example")
    bank = Organisation.get(Organisation.name == CLIENT)
    largest = (EvidenceRequest.select(EvidenceRequest.engagement).join(Engagement).where(Engagement.client == bank)
               .group_by(EvidenceRequest.engagement).order_by(pw.fn.COUNT(EvidenceRequest.id).desc()).scalar())
    most_versions, versions = (Evidence.select(Evidence.request, pw.fn.COUNT(Evidence.id)).group_by(Evidence.request)
                               .order_by(pw.fn.COUNT(Evidence.id).desc()).tuples().first())
    single = (Evidence.select(Evidence.request).group_by(Evidence.request)
              .having(pw.fn.COUNT(Evidence.id) == 1).scalar())
    submitted = Evidence.select().where(Evidence.status == "submitted").count()
    requests = EvidenceRequest.select().count()
    deep_page = max(1, submitted // 50 - 1)
    provider_user = (User.select().join(Organisation).where(Organisation.kind == "provider",
                                                              User.role == "provider_contributor").first())
    token = create_token(reviewer)
    models.db.close()

    api, browser = signed_in_clients(app, reviewer, token)
    routes = [
        (api, "/api/v1/review-queue?per_page=50", f"{submitted:,} submitted"),
        (api, f"/api/v1/review-queue?per_page=50&page={deep_page}", "deep page"),
        (api, f"/api/v1/review-queue?engagement={largest}&framework=ISO27001-2022&per_page=50", "filtered"),
        (api, f"/api/v1/requests/{most_versions}", f"{versions} versions"),
        (api, f"/api/v1/requests/{single}", "1 version"),
        (browser, "/review", "page"),
        (browser, f"/requests/{most_versions}", f"page, {versions} versions"),
    ]
    database = models.db.obj
    print()
    print(f"Attest evidence benchmark: {'PostgreSQL' if models.is_postgres() else 'SQLite'}, {requests:,} requests, "
          f"{Evidence.select().count():,} evidence, {runs} runs per route, load average {os.getloadavg()[0]:.1f}")
    header = f"{'route':<84} {'median ms':>9} {'p95 ms':>8} {'queries':>7}  data"
    print(header)
    print("-" * len(header))
    for client, path, what in routes:
        timing = measure_route(client, path, runs, database)
        if timing is None:
            print(f"{path:<84} {'(not built: skipped)':>26}")
            continue
        print(row(path, timing, what))
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        inbox = evidence_service.provider_inbox(provider_user)  # also the warm-up
        timing = measure(partial(evidence_service.provider_inbox, provider_user), runs, database)
        print(row(f"services.evidence.evidence.provider_inbox({provider_user.email})", timing,
                  f"{len(inbox.items)} items"))
    return 0


def row(what: str, timing: Timing, data: str) -> str:
    return f"{what:<84} {timing.median:9.1f} {timing.p95:8.1f} {timing.queries:>7}  {data}"


if __name__ == "__main__":
    sys.exit(main())
