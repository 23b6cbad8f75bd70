"""The audit trail's tail: the chain alone cannot show events cut from its end, nor a chain re-computed from
the start; a head kept apart (HASH@ID, from a pack, a backup or the daily log line) can, through
``verify-audit-log --anchor``. Backups record the head of their snapshot; the scheduler logs it once a day."""
from __future__ import annotations

import datetime as dt
import logging

import pytest

from evidence_store import LocalStore
from models import AuditEvent
from services.alerts import scheduler
from services.audit import audit_log
from services.ops.backup import backup


def _trail(n: int = 4) -> list[AuditEvent]:
    return [audit_log.record("auth.login", actor_email=f"{i}@x.example") for i in range(n)]


def test_an_anchor_catches_events_cut_from_the_end(library, tamper, cli_runner):
    events = _trail()
    anchor = f"{events[-1].hash}@{events[-1].id}"
    assert audit_log.verify_chain(audit_log.parse_anchor(anchor)) == []
    with tamper():
        AuditEvent.delete().where(AuditEvent.id >= events[-2].id).execute()
    assert audit_log.verify_chain() == []  # what the chain alone cannot see
    problems = audit_log.verify_chain(audit_log.parse_anchor(anchor))
    assert len(problems) == 1 and "is gone" in problems[0]
    result = cli_runner.invoke(args=["verify-audit-log", "--anchor", anchor])
    assert result.exit_code == 1 and "is gone" in result.output


def test_an_anchor_catches_a_re_chained_trail(library, tamper, cli_runner):
    events = _trail()
    anchor = (events[-1].hash, events[-1].id)
    with tamper():  # alter the first event and re-compute every hash after it: a consistent, forged chain
        previous = audit_log.GENESIS
        for event in AuditEvent.select().order_by(AuditEvent.id):
            event.details = '{"forged": true}' if event.id == events[0].id else event.details
            event.prev_hash = previous
            event.hash = audit_log.event_hash(event)
            AuditEvent.update(details=event.details, prev_hash=event.prev_hash, hash=event.hash).where(
                AuditEvent.id == event.id).execute()
            previous = event.hash
    assert audit_log.verify_chain() == []
    assert "re-chained" in audit_log.verify_chain(anchor)[0]


def test_the_command_checks_a_good_anchor_and_refuses_a_malformed_one(library, cli_runner):
    events = _trail(2)
    good = cli_runner.invoke(args=["verify-audit-log", "--anchor", f"{events[-1].hash}@{events[-1].id}"])
    assert good.exit_code == 0 and "anchor" in good.output and "holds" in good.output
    assert f"head {events[-1].hash}@{events[-1].id}" in good.output
    for bad in ("nothex@1", f"{events[-1].hash}@", f"{events[-1].hash}@１", "x" * 64 + "@1"):
        refused = cli_runner.invoke(args=["verify-audit-log", "--anchor", bad])
        assert refused.exit_code == 2 and "HASH@ID" in refused.output, bad


def test_a_backup_records_the_head_of_its_snapshot(app, library, database_url, tmp_path):
    events = _trail(2)
    manifest = backup(str(tmp_path / "b.tar"), database_url, LocalStore(app.config["EVIDENCE_STORE"]))
    assert manifest["audit_head"] == f"{events[-1].hash}@{events[-1].id}"


def test_the_scheduler_logs_the_head_once_a_day(library, caplog):
    events = _trail(1)
    day = dt.datetime(2026, 12, 7, 1, 0)
    with caplog.at_level(logging.INFO, logger="attest.scheduler"):
        assert scheduler.log_audit_head("test-holder", day) == f"{events[-1].hash}@{events[-1].id}"
        assert scheduler.log_audit_head("test-holder", day + dt.timedelta(hours=5)) is None
        assert scheduler.log_audit_head("test-holder", day + dt.timedelta(days=1)) is not None
    assert sum("audit trail head" in r.getMessage() for r in caplog.records) == 2


@pytest.fixture(autouse=True)
def _forget_logged_days():
    scheduler._head_logged.clear()
    yield
    scheduler._head_logged.clear()
