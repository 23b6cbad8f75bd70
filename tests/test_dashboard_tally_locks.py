"""The request_tally trigger takes its row locks in one order (PostgreSQL): two transactions moving requests of
one engagement in opposite directions do not deadlock. Made deterministic: a third transaction holds the
engagement's ``accepted`` tally rows while the accepted -> overdue move and then the overdue -> accepted move
queue behind it (seen in pg_locks), and lets go; with the old two-statement trigger the second move held the
``overdue`` rows the first needed next, and PostgreSQL failed one of them as a deadlock. (SQLite lets one
writer in at a time: there is nothing to order.)"""
from __future__ import annotations

import threading
import time

import pytest

from models import EvidenceRequest, RequestTally, db, is_postgres, transaction


def _waiting() -> int:
    """Sessions of this database waiting for a lock (a row lock is a wait on a transaction id: no database).
    pg_stat_activity is read once per transaction unless its snapshot is cleared."""
    db.execute_sql("SELECT pg_stat_clear_snapshot()")
    return db.execute_sql("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN "
                          "(SELECT pid FROM pg_stat_activity WHERE datname = current_database())").fetchone()[0]


def _until(condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.01)
    return True


def _move(request_id: int, status: str, errors: list) -> threading.Thread:
    def run():
        try:
            with transaction():
                EvidenceRequest.update(status=status).where(EvidenceRequest.id == request_id).execute()
        except Exception as error:  # noqa: BLE001 — a deadlock is the failure this test looks for
            errors.append(repr(error))
        finally:
            db.close()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_opposite_moves_of_one_engagement_do_not_deadlock(evidence_world):
    if not is_postgres():
        pytest.skip("SQLite serialises writers: no lock order to get wrong")
    w = evidence_world
    first, second = (EvidenceRequest.select().where(EvidenceRequest.engagement == w.engagement.id)
                     .order_by(EvidenceRequest.id).limit(2))
    with transaction():
        EvidenceRequest.update(status="overdue").where(EvidenceRequest.id == first.id).execute()
        EvidenceRequest.update(status="accepted").where(EvidenceRequest.id == second.id).execute()
    errors: list = []
    with transaction():  # the third transaction: holds every accepted tally row of the engagement
        held = list(RequestTally.select().where(RequestTally.engagement == w.engagement.id,
                                                RequestTally.status == "accepted").for_update())
        assert held
        backwards = _move(second.id, "overdue", errors)  # accepted -> overdue: queues on the accepted rows
        assert _until(lambda: _waiting() >= 1), errors
        forwards = _move(first.id, "accepted", errors)  # overdue -> accepted
        assert _until(lambda: _waiting() >= 2), errors
    for thread in (backwards, forwards):
        thread.join(30)
    assert errors == []
    assert EvidenceRequest.get_by_id(first.id).status == "accepted"
    assert EvidenceRequest.get_by_id(second.id).status == "overdue"
    for status in ("accepted", "overdue"):  # the tally still equals the count
        tallied = (RequestTally.select().where(RequestTally.engagement == w.engagement.id,
                                               RequestTally.status == status, RequestTally.framework_id == 0,
                                               RequestTally.month == "").first())
        counted = EvidenceRequest.select().where(EvidenceRequest.engagement == w.engagement.id,
                                                 EvidenceRequest.status == status).count()
        assert (tallied.n if tallied else 0) == counted, status
