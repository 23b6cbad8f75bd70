"""A scheduler pass with a backlog never holds the writers off: it works in short batches, each its own
transaction, so sign-ins and other writes get in between two (SQLite) or beside them (PostgreSQL); and a
pass stopped between two batches resumes where it stopped, doing nothing twice."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time

import pytest

from models import AuditEvent, Evidence, EvidenceRequest, Notification, db, is_postgres, transaction
from services.alerts import alerts
from services.alerts.scheduler import tick
from services.audit import audit_log
from services.evidence import expiry
from services.register.engagements import create_accepted_engagement
from tests.conftest import login
from tests.fixtures.prod import ROOT, base_env

T = dt.datetime
CREATED = T(2026, 6, 15, 2, 0)
LATER = T(2026, 9, 15, 2, 0)  # three months without a pass: requests to move, evidence to expire, alerts to send
VERSIONS = 8  # accepted evidence per request, all past their validity at LATER
MAX_WAIT = 0.2  # seconds a write may wait behind the scheduler on SQLite, on a machine with a core to spare


def max_wait() -> float:
    """MAX_WAIT, stretched by how oversubscribed the machine's cores are (a batch that holds the lock for
    10 ms of CPU takes ten times as long when ten processes queue for each core): the figure asked of a
    machine with a core to spare, never less."""
    cores = os.cpu_count() or 1
    return MAX_WAIT * max(1.0, os.getloadavg()[0] / cores)


@pytest.fixture
def backlog(make_user):
    """An engagement planned at CREATED whose every request holds VERSIONS accepted items that expire before
    LATER (thousands of expiries), with its users."""
    admin = make_user("client_admin")
    provider = make_user("provider_admin")
    engagement = create_accepted_engagement(admin, {"name": "Backlog centre", "provider": "BPO A",
                                           "frameworks": ["ISO27001-2022"], "place": "NSW",
                                           "start_date": "2026-01-01"}, now=CREATED)
    tick(now=CREATED)
    requests = list(EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.period_start)
                    .where(EvidenceRequest.engagement == engagement.id).tuples())
    rows = [{"request": request_id, "engagement": engagement.id, "sha256": f"{request_id:032x}{v:032x}",
             "original_filename": "report.pdf", "media_type": "application/pdf", "size": 10,
             "effective_date": start, "valid_until": dt.date(2026, 7, 1), "status": "accepted",
             "version": 100 + v, "uploaded_at": CREATED, "reviewed_at": CREATED}
            for request_id, start in requests for v in range(VERSIONS)]
    with transaction():
        for i in range(0, len(rows), 500):
            Evidence.insert_many(rows[i:i + 500]).execute()
    assert len(rows) > 1500
    return {"engagement": engagement, "admin": admin, "provider": provider, "expiring": len(rows)}


class LockWaits:
    """Times every write transaction's BEGIN in this process (where SQLite's busy timeout waits for the write
    lock), with the instant it started."""

    def __init__(self, monkeypatch) -> None:
        self.waits: list[tuple[float, float]] = []  # (started at, seconds waited)
        database_class = type(db.obj)
        begin = database_class.begin

        def timed_begin(database, *args, **kwargs):
            at, started = time.time(), time.perf_counter()
            try:
                return begin(database, *args, **kwargs)
            finally:
                self.waits.append((at, time.perf_counter() - started))

        monkeypatch.setattr(database_class, "begin", timed_begin)

    def between(self, start: float, end: float) -> list[float]:
        return [wait for at, wait in self.waits if start <= at <= end]


PASS = f"""
import datetime as dt, json, time
from app import create_app
import models
from services.alerts.scheduler import tick
create_app()
models.db.connect(reuse_if_open=True)
start = time.time()
result = tick(now=dt.datetime.fromisoformat({LATER.isoformat()!r}))
print(json.dumps({{"start": start, "end": time.time(), "expired": result.expired, "overdue": result.overdue,
                  "batches": result.batches, "longest_ms": result.longest_ms, "step": result.longest_step}}))
"""


def test_sign_ins_and_writes_flow_during_a_backlog_pass(app, database_url, backlog, monkeypatch, tmp_path):
    """The pass runs as the scheduler does, in its own process; meanwhile this one signs in through the web
    form and writes audit events, over and over. None waits more than MAX_WAIT for the write lock."""
    waits = LockWaits(monkeypatch)
    env = base_env(DATABASE_URL=database_url, EVIDENCE_STORE=str(tmp_path / "evidence"))
    scheduler = subprocess.Popen([sys.executable, "-c", PASS], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
    written: list[float] = []
    signed_in: list[float] = []
    while scheduler.poll() is None:
        response = login(app.test_client(), backlog["provider"])
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        signed_in.append(time.time())
        with transaction():
            audit_log.record("test.write", actor_email="writer@test.example", object_type="test",
                             object_id=len(written))
        written.append(time.time())
    out = scheduler.stdout.read()
    assert scheduler.returncode == 0, out
    result = json.loads(out.strip().splitlines()[-1])
    start, end = result["start"], result["end"]
    assert result["expired"] == backlog["expiring"] and result["overdue"] > 0
    assert result["batches"] > 20, "the backlog was worked in one or a few long transactions"
    during = [t for t in signed_in if start <= t <= end]
    assert len(during) >= 2, f"only {len(during)} sign-ins during a {end - start:.1f}s pass"
    assert AuditEvent.select().where(AuditEvent.action == "test.write").count() == len(written)
    longest = max(waits.between(start, end))
    allowed = max_wait()
    print(f"\nbacklog pass: {end - start:.2f}s, {result['batches']} transactions (longest {result['longest_ms']} "
          f"ms: {result['step']}); {len(during)} sign-ins and as many writes meanwhile, the longest wait for the "
          f"write lock {longest * 1000:.0f} ms (allowed {allowed * 1000:.0f} ms at load {os.getloadavg()[0]:.1f})")
    if not is_postgres():  # PostgreSQL's writers never wait for the pass: only for rows a batch holds
        assert longest < allowed, f"a write waited {longest * 1000:.0f} ms behind the scheduler"


def test_a_pass_stopped_between_two_batches_resumes_without_doing_anything_twice(backlog):
    engagement, provider = backlog["engagement"], backlog["provider"]
    first = expiry.expire_evidence(LATER, batch=25)
    assert next(first) == (25, 0)
    first.close()  # the process dies here: one batch committed, nothing else
    assert Evidence.select().where(Evidence.status == "expired").count() == 25
    slices = alerts.run(LATER)
    next(slices)
    slices.close()  # and here, after the alerts' first slice
    result = tick(now=LATER)
    assert result.expired == backlog["expiring"] - 25
    assert Evidence.select().where(Evidence.status == "accepted").count() == 0
    assert alerts.window(LATER) == LATER
    grace = dt.timedelta(days=engagement.grace_days)
    fell_overdue = {r.id for r in EvidenceRequest.select().where(
        EvidenceRequest.engagement == engagement.id, EvidenceRequest.status == "overdue",
        EvidenceRequest.due_at > CREATED - grace - alerts.FIRST_LOOK_BACK)}
    told = {n.object_id for n in Notification.select().where(Notification.user == provider.id,
                                                               Notification.kind == "request_overdue")}
    assert fell_overdue and told == fell_overdue, "a slice of the window was skipped"
    assert not tick(now=LATER).changed
