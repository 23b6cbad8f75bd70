"""Packs are built without a separate worker ("built in the background by a worker process or
the scheduler"): a pack requested through the API is built by a real ``flask --app app scheduler`` process
with no pack worker running; next to a pack worker, every pack is built once; a claim whose builder went
silent is taken back after its timeout, and the first builder's late result is dropped."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from models import AuditEvent, Pack, db, utcnow
from services.alerts.scheduler import PackBuilding, build_packs
from services.auditors import pack_verify, packs
from tests.conftest import bearer
from tests.fixtures.prod import ROOT, base_env

PERIOD = {"period_start": "2025-07-01", "period_end": "2026-06-30"}
FLASK = str(Path(sys.executable).parent / "flask")


class Process:
    """A ``flask --app app …`` command in its own process group, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log_path = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen([FLASK, "--app", "app", *args], cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.process.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def world(rights_world):
    rights_world["headers"] = bearer(rights_world["admin"])
    return rights_world


@pytest.fixture
def env(app, database_url):
    return base_env(DATABASE_URL=database_url, EVIDENCE_STORE=app.config["EVIDENCE_STORE"])


def request_pack(client, world, **overrides) -> int:
    body = {"frameworks": ["ISO27001-2022", "CPS234"], **PERIOD, **overrides}
    response = client.post(f"/api/v1/engagements/{world['engagement'].id}/packs", json=body,
                           headers=world["headers"])
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def wait_until_built(pack_ids: list[int], timeout: float) -> list[Pack]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.connect(reuse_if_open=True)
        rows = list(Pack.select().where(Pack.id.in_(pack_ids)))
        if all(p.status in ("ready", "failed") for p in rows):
            return rows
        time.sleep(0.25)
    pytest.fail(f"packs {pack_ids} not built after {timeout}s: "
                f"{[(p.id, p.status, p.claimed_by) for p in Pack.select().where(Pack.id.in_(pack_ids))]}")


def test_a_pack_requested_through_the_api_is_built_by_the_scheduler_alone(client, world, env, tmp_path):
    pack_id = request_pack(client, world)
    scheduler = Process(["scheduler", "--interval", "300"], env, tmp_path / "scheduler.log")
    try:
        started = time.monotonic()
        (pack,) = wait_until_built([pack_id], 120)
        took = time.monotonic() - started
    finally:
        scheduler.stop()
    assert pack.status == "ready", (pack.error, scheduler.log)
    assert pack.claimed_by.split(":")[1] == str(scheduler.pid)  # built by the scheduler's process
    assert f"scheduler built pack {pack_id}: ready" in scheduler.log
    status = client.get(f"/api/v1/packs/{pack_id}", headers=world["headers"]).get_json()
    assert status["status"] == "ready" and status["progress"] == 100
    pdf = client.get(f"/api/v1/packs/{pack_id}/file", headers=world["headers"])
    assert pdf.status_code == 200 and pack_verify.verify_file(pdf.data).ok
    # not on the tick's 300-second interval: the leader looks at the queue every few seconds
    print(f"\nscheduler built pack {pack_id} {took:.1f}s after it started (interval 300s)")


def test_the_scheduler_and_a_pack_worker_build_each_pack_once(client, world, env, tmp_path):
    ids = [request_pack(client, world, frameworks=[code]) for code in ("ISO27001-2022", "CPS234") * 2]
    scheduler = Process(["scheduler", "--interval", "300"], env, tmp_path / "scheduler.log")
    worker = Process(["pack-worker", "--interval", "0.2"], env, tmp_path / "worker.log")
    try:
        rows = wait_until_built(ids, 240)
    finally:
        scheduler.stop()
        worker.stop()
    assert all(p.status == "ready" for p in rows), [(p.id, p.error) for p in rows]
    builds = [int(e.object_id) for e in AuditEvent.select().where(AuditEvent.action == "pack.build")]
    assert sorted(builds) == sorted(ids), "a pack was built twice, or not at all"
    builders = {p.claimed_by.split(":")[1] for p in rows}
    assert builders <= {str(scheduler.pid), str(worker.pid)}
    print(f"\n{len(ids)} packs: {sum(b == str(scheduler.pid) for b in (p.claimed_by.split(':')[1] for p in rows))}"
          f" built by the scheduler, the rest by the pack worker; each once")


def test_racing_claimers_never_both_claim_a_pack(client, world):
    """Eight threads claim at once, each on its own connection: every queued pack goes to exactly one."""
    ids = [request_pack(client, world) for _ in range(3)]
    claims: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def claimer(n: int) -> None:
        db.connect(reuse_if_open=True)
        try:
            barrier.wait()
            while (pack := packs.claim_next(f"claimer-{n}")) is not None:
                claims.append((f"claimer-{n}", pack.id))
        except BaseException as exc:  # noqa: BLE001 - reported below: a claimer may not fail
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(pack_id for _, pack_id in claims) == sorted(ids)
    for who, pack_id in claims:
        assert Pack.get_by_id(pack_id).claimed_by == who


def test_a_silent_claim_is_taken_back_and_the_first_builders_result_dropped(app, client, world):
    pack_id = request_pack(client, world)
    first = packs.claim_next("silent-worker")
    assert first.id == pack_id
    Pack.update(claimed_at=utcnow() - packs.CLAIM_TTL - dt.timedelta(seconds=1)).where(Pack.id == pack_id).execute()
    # the scheduler's pass (as leader) takes the silent claim back and builds the pack
    from services.alerts import scheduler
    scheduler._leading["test-leader"] = True
    try:
        built = build_packs("test-leader", PackBuilding(app.config["EVIDENCE_STORE"]))
    finally:
        scheduler._leading.pop("test-leader")
    assert [(p.id, p.status, p.claimed_by) for p in built] == [(pack_id, "ready", "test-leader")]
    # the silent worker wakes up and finishes: its result is not the pack's, and no second build is logged
    late = packs.build_claimed(first, app.config["EVIDENCE_STORE"])
    assert (late.status, late.claimed_by, late.file_sha256) == ("ready", "test-leader", built[0].file_sha256)
    assert AuditEvent.select().where(AuditEvent.action == "pack.build").count() == 1


def test_a_standby_builds_nothing(app, client, world):
    request_pack(client, world)
    assert build_packs("not-the-leader", PackBuilding(app.config["EVIDENCE_STORE"])) == []
    assert Pack.get().status == "queued"
    assert json.loads(Pack.get().frameworks)
