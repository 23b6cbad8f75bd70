"""The evidence state machine and the request states it drives (domain/evidence.py), without a database."""
from __future__ import annotations

import datetime as dt

import pytest

from domain import evidence as rules
from domain.errors import Conflict, DomainError, ValidationError
from domain.schedule import TRANSITIONS as REQUEST_TRANSITIONS
from models.evidence import EVIDENCE_STATES
from models.register import REQUEST_STATES


def test_the_tables_cover_every_state_and_only_known_ones():
    assert set(rules.TRANSITIONS) == set(EVIDENCE_STATES)
    assert all(targets <= set(EVIDENCE_STATES) for targets in rules.TRANSITIONS.values())
    assert set(REQUEST_TRANSITIONS) == set(REQUEST_STATES)


@pytest.mark.parametrize("old, new", [("submitted", "accepted"), ("submitted", "rejected"),
                                      ("submitted", "withdrawn"), ("accepted", "superseded"),
                                      ("accepted", "expired")])
def test_allowed_evidence_moves(old, new):
    rules.check_move(old, new)


@pytest.mark.parametrize("old, new", [("accepted", "rejected"), ("rejected", "accepted"), ("withdrawn", "submitted"),
                                      ("superseded", "accepted"), ("accepted", "withdrawn"), ("expired", "accepted")])
def test_a_decided_item_cannot_be_decided_again(old, new):
    with pytest.raises(Conflict):
        rules.check_move(old, new)


def test_the_request_after_a_decision():
    assert rules.request_after_decision(["submitted", "rejected"], "rejected") == "submitted"
    assert rules.request_after_decision(["accepted"], "rejected") == "accepted"
    assert rules.request_after_decision(["withdrawn", "rejected"], "overdue") == "overdue"
    assert rules.request_after_decision([], "open") == "open"
    for state in ("upcoming", "open", "overdue", "rejected", "accepted"):
        assert rules.request_move_allowed(state, rules.request_after_upload(state))
    assert rules.request_after_upload("submitted") is None


def test_effective_date_and_validity():
    today = dt.date(2026, 3, 1)
    rules.check_effective_date(today, today)
    with pytest.raises(ValidationError):
        rules.check_effective_date(today + dt.timedelta(days=1), today)
    assert rules.valid_until(dt.date(2026, 1, 31), 30) == dt.date(2026, 3, 2)


def test_safe_filename():
    assert rules.safe_filename("../../x/../report.pdf") == "report.pdf"
    assert rules.safe_filename("C:\\Users\\me\\scan.png") == "scan.png"
    assert rules.safe_filename("in\u202evoice\u200d.pdf") == "invoice.pdf"
    assert rules.safe_filename("a\r\nb\tc.csv") == "a b c.csv"
    assert rules.safe_filename(".htaccess") == "htaccess"
    assert rules.safe_filename("") == "evidence"
    long = rules.safe_filename("x" * 1000 + ".xlsx")
    assert len(long) == rules.MAX_FILENAME and long.endswith(".xlsx")
    assert len(rules.safe_filename("y" * 1000)) == rules.MAX_FILENAME
    with pytest.raises(DomainError):
        rules.safe_filename("a\x00.pdf")
