"""A pack build killed mid-way is taken over as soon as its worker is gone: at once when the claiming process
of this host no longer runs, within CLAIM_TTL (minutes, not half an hour) otherwise; a live worker's heartbeat
keeps its claim however long the render takes."""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from models import Pack, utcnow
from services.auditors import packs


@pytest.fixture
def building(rights_world):
    """A pack in ``building``, claimed by whoever the test says."""
    def claim(worker: str, ago: dt.timedelta = dt.timedelta(seconds=5)) -> Pack:
        return Pack.create(engagement=rights_world["engagement"], frameworks=json.dumps(["CPS234"]),
                           period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 3, 31), status="building",
                           progress=35, claimed_by=worker, claimed_at=utcnow() - ago,
                           requested_by=rights_world["admin"])
    return claim


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_dead_workers_claim_is_taken_over_at_once(building):
    pack = building(f"{socket.gethostname()}:{_dead_pid()}")
    assert packs.requeue_stale() == 1
    taken = packs.claim_next("next-worker")
    assert taken is not None and taken.id == pack.id and taken.claimed_by == "next-worker"


def test_a_silent_claim_of_another_host_is_taken_over_within_minutes(building):
    pack = building("elsewhere:4242", ago=dt.timedelta(minutes=3))
    taken = packs.claim_next("next-worker")
    assert taken is not None and taken.id == pack.id


def test_a_live_claim_is_left_alone_and_its_heartbeat_renews_it(building):
    pack = building(f"{socket.gethostname()}:{os.getpid()}", ago=dt.timedelta(seconds=90))
    assert packs.requeue_stale() == 0
    before = Pack.get_by_id(pack.id).claimed_at
    with packs._Heartbeat(pack.id, pack.claimed_by, every=dt.timedelta(milliseconds=20)):
        deadline = utcnow() + dt.timedelta(seconds=20)
        while Pack.get_by_id(pack.id).claimed_at == before and utcnow() < deadline:
            threading.Event().wait(0.01)
    assert Pack.get_by_id(pack.id).claimed_at > before
    assert Pack.get_by_id(pack.id).status == "building" and packs.claim_next("next-worker") is None
