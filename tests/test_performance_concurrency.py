"""Racing writes on contract performance end in one winner and clear conflicts, never an error: the same result
submitted from several threads at once, and many results of one engagement reviewed at once (each review
recomputes the engagement's credits)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import models
from domain.errors import DomainError
from models import KpiResult, ServiceCredit
from services.performance import commercial, kpis, results
from services.register.engagements import create_accepted_engagement

THREADS = 6


def _in_thread(call):
    """Run ``call`` on this thread's own connection; the outcome's kind (never an unexpected exception)."""
    models.db.connect(reuse_if_open=True)
    try:
        call()
        return "ok"
    except DomainError as exc:
        return exc.status
    finally:
        models.db.close()


def test_racing_submissions_and_reviews(library, make_user):
    admin, provider, risk = make_user("client_admin"), make_user("provider_admin"), make_user("risk_reviewer")
    engagement = create_accepted_engagement(admin, {"name": "Race", "provider": "BPO A", "frameworks": ["CONTRACT"],
                                           "place": "NSW", "start_date": "2026-01-01"})
    for code in ("ABANDON", "FCR", "CSAT", "QA-SCORE"):
        kpis.create_kpi(admin, engagement.id, {"template": code})
    commercial.put_month(admin, engagement.id, "2026-02", {"actual_volume": 30000, "charges": "100000"})
    row = [results.Row(1, "ABANDON", "2026-02", "9")]
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(lambda _: _in_thread(lambda: results.submit(provider, engagement.id, row)),
                                 range(THREADS)))
    assert sorted(outcomes, key=str) == [409] * (THREADS - 1) + ["ok"]
    assert KpiResult.select().count() == 1
    others = [results.Row(i, code, "2026-02", "10") for i, code in enumerate(("FCR", "CSAT", "QA-SCORE"), start=2)]
    ids = [r.id for r in KpiResult.select()] + [r.id for r in results.submit(provider, engagement.id, others)]
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(lambda i: _in_thread(lambda: results.review(risk, i, {"decision": "accept"})),
                                 ids + ids))
    assert sorted(outcomes, key=str) == [409] * len(ids) + ["ok"] * len(ids)
    assert {c.kpi.code for c in ServiceCredit.select()} == {"ABANDON", "FCR", "CSAT", "QA-SCORE"}
