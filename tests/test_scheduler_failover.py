"""One scheduler across processes: three real ``flask --app app scheduler`` processes share the database
lease; the leader killed with SIGKILL is replaced within one lease period, and no two passes ever overlap
(each pass logs its span, held under the pass lock)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models import SchedulerLease, db, utcnow
from services.alerts.lease import LEASE
from tests.fixtures.prod import ROOT, base_env

INTERVAL = 1
TTL = 3 * INTERVAL
PASS = re.compile(r"scheduler pass (start|end) pid=(\d+) t=([\d.]+)")


class Scheduler:
    def __init__(self, env: dict[str, str], log: Path):
        self.log_path = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "flask"), "--app", "app", "scheduler", "--interval", str(INTERVAL)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.process.pid

    def passes(self) -> list[tuple[float, float]]:
        """(start, end) of each completed pass of this process, from its log."""
        spans, started = [], None
        for kind, pid, at in PASS.findall(self.log_path.read_text(errors="replace")):
            assert int(pid) == self.pid
            if kind == "start":
                assert started is None, "a pass started inside another of the same process"
                started = float(at)
            else:
                spans.append((started, float(at)))
                started = None
        return spans


def lease_holder_pid() -> int | None:
    db.connect(reuse_if_open=True)
    lease = SchedulerLease.get_or_none(SchedulerLease.name == LEASE)
    if lease is None or lease.expires_at < utcnow():
        return None
    return int(lease.holder.split(":")[1])


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def test_one_leader_and_failover_after_sigkill(database_url, library, tmp_path):
    env = base_env(DATABASE_URL=database_url, EVIDENCE_STORE=str(tmp_path / "evidence"))
    schedulers = [Scheduler(env, tmp_path / f"scheduler-{i}.log") for i in range(3)]
    by_pid = {s.pid: s for s in schedulers}
    try:
        leader = by_pid[wait_for(lambda: lease_holder_pid() in by_pid and lease_holder_pid(), 60, "a leader")]
        wait_for(lambda: len(leader.passes()) >= 3, 30, "the leader's passes")
        assert all(not s.passes() for s in schedulers if s is not leader), "a standby ran a pass"

        leader.process.send_signal(signal.SIGKILL)
        killed_at = time.time()
        leader.process.wait(10)
        standbys = [s for s in schedulers if s is not leader]
        successor = wait_for(lambda: next((s for s in standbys if s.passes()), None), 3 * TTL, "a successor")
        taken_over_after = successor.passes()[0][0] - killed_at
        assert taken_over_after <= TTL + 0.5, f"took over after {taken_over_after:.2f}s (lease {TTL}s)"
        wait_for(lambda: len(successor.passes()) >= 3, 30, "the successor's passes")
        assert lease_holder_pid() == successor.pid
    finally:
        for s in schedulers:
            if s.process.poll() is None:
                s.process.send_signal(signal.SIGTERM)
        for s in schedulers:
            try:
                s.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(s.pid, signal.SIGKILL)

    spans = sorted(span for s in schedulers for span in s.passes())
    assert len(spans) >= 6
    for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False):
        assert next_start >= end, "two passes overlapped"
    runners = {s.pid for s in schedulers if s.passes()}
    assert runners == {leader.pid, successor.pid}
    print(f"\nfailover: successor's first pass {taken_over_after:.2f}s after SIGKILL (lease {TTL}s); "
          f"{len(spans)} passes, none overlapping")
