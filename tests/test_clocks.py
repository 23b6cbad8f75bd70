"""Clock rules (SPEC §4, §5; obligations.md §8–§9): pure timing, the state machine and services.incidents.clocks."""
from __future__ import annotations

import datetime as dt

import pytest

from domain.clocks import (
    TRANSITIONS,
    ClockError,
    IncidentFacts,
    Rule,
    Settings,
    check_notice,
    check_transition,
    client_aware_at,
    state_after_notice,
    timing,
)
from domain.timeutil import local
from models import AuditEvent, Clock
from services.incidents import clocks
from services.register.engagements import create_accepted_engagement

T = dt.datetime
NSW = Settings(place="NSW", timezone="Australia/Sydney")
HOURS_72 = Rule("CPS234-35", {}, "client_aware_at", 72, "hours")
BD_10 = Rule("CPS234-36", {}, "client_aware_at", 10, "business_days")


def test_a_72_hour_clock_across_the_october_dst_change_ends_72_real_hours_later():
    # 2026-10-03 09:00 AEST (UTC+10) = 2026-10-02 23:00 UTC; clocks go forward on 4 October (AEDT, UTC+11)
    start = T(2026, 10, 2, 23, 0)
    t = timing(HOURS_72, start, NSW)
    assert t.deadline_at == T(2026, 10, 5, 23, 0)  # 72 real hours in UTC
    assert local(t.deadline_at, "Australia/Sydney").isoformat() == "2026-10-06T10:00:00+11:00"  # 10:00, not 09:00
    assert t.basis == "72 elapsed hours"


def test_ten_business_days_from_21_december_2026_in_nsw_end_on_7_january_2027_at_local_midnight():
    start = T(2026, 12, 21, 3, 0)  # 14:00 AEDT on 21 December; that day is not counted
    t = timing(BD_10, start, NSW)
    assert local(t.deadline_at, "Australia/Sydney").replace(tzinfo=None) == T(2027, 1, 7, 23, 59, 59)
    assert t.basis == "10 business days NSW"
    assert t.calendar.startswith("AU-NSW holidays ") and "Australia/Sydney" in t.calendar


def test_a_holiday_override_moves_the_business_day_deadline():
    extra = Settings(place="NSW", timezone="Australia/Sydney", overrides={dt.date(2027, 1, 5): True})
    t = timing(BD_10, T(2026, 12, 21, 3, 0), extra)
    assert local(t.deadline_at, "Australia/Sydney").date() == dt.date(2027, 1, 8)
    assert "+ 1 overrides" in t.calendar


def test_client_awareness_is_the_providers_notice_unless_the_engagement_treats_them_as_one():
    incident = IncidentFacts("security_incident", frozenset({"material"}), "provider", T(2026, 5, 1), T(2026, 5, 2))
    assert client_aware_at(incident, NSW) == (None, "waiting for the provider's notice to the client")
    assert client_aware_at(incident, NSW, T(2026, 5, 2, 6))[0] == T(2026, 5, 2, 6)
    imputed = Settings(place="NSW", timezone="Australia/Sydney", provider_awareness_is_client=True)
    assert client_aware_at(incident, imputed)[0] == T(2026, 5, 2)


def test_the_clock_state_machine_allows_only_its_table():
    assert TRANSITIONS["running"] == {"met", "breached", "not_required"}
    check_transition("pending", "running")
    check_transition("pending", "not_required")
    for state, new in (("met", "running"), ("met", "breached"), ("running", "pending"), ("met", "not_required"),
                       ("breached", "not_required"), ("not_required", "running"), ("not_required", "met")):
        with pytest.raises(ClockError):
            check_transition(state, new)
    deadline = T(2026, 1, 4)
    assert state_after_notice("running", deadline, T(2026, 1, 3)) == "met"
    assert state_after_notice("running", deadline, T(2026, 1, 5)) == "breached"
    assert state_after_notice("breached", deadline, T(2026, 1, 3)) == "met"  # on time, recorded late


@pytest.mark.parametrize("notified_at, message", [
    (T(2026, 1, 1, 9), "before the clock started"),
    (T(2026, 1, 3), "in the future"),
])
def test_a_notice_before_the_start_or_in_the_future_is_refused(notified_at, message):
    with pytest.raises(ClockError, match=message):
        check_notice("running", T(2026, 1, 1, 10), notified_at, now=T(2026, 1, 2))


@pytest.fixture
def engagement(make_user):
    admin = make_user("client_admin")
    return create_accepted_engagement(admin, {"name": "Clock centre", "provider": "BPO A", "frameworks": ["CPS230"],
                                     "place": "NSW", "start_date": "2026-01-01"}, now=T(2026, 6, 1))


def test_start_clock_on_any_subject_is_idempotent_and_audited(engagement):
    agreed = T(2026, 12, 20, 13, 0)  # 21 December, 00:00 AEDT
    clock = clocks.start_clock(engagement, "CPS230-ARRANGEMENT", agreed, subject=("subcontractor", 7))
    again = clocks.start_clock(engagement, "CPS230-ARRANGEMENT", agreed, subject=("subcontractor", 7))
    assert again.id == clock.id and Clock.select().count() == 1
    assert clock.incident_id is None and (clock.subject_type, clock.subject_id) == ("subcontractor", 7)
    assert clock.state == "running" and clock.basis.startswith("20 business days NSW")
    assert local(clock.deadline_at, "Australia/Sydney").date() == dt.date(2027, 1, 21)
    assert AuditEvent.select().where(AuditEvent.action == "clock.start").count() == 1


def test_start_clock_refuses_an_unknown_rule(engagement):
    from domain.errors import ValidationError
    with pytest.raises(ValidationError) as caught:
        clocks.start_clock(engagement, "NO-SUCH-RULE", T(2026, 6, 2), subject=("subcontractor", 1))
    assert caught.value.field == "rule" and Clock.select().count() == 0


def test_a_notice_meets_a_running_clock_and_a_late_one_leaves_it_breached(engagement):
    on_time = clocks.start_clock(engagement, "CPS230-ARRANGEMENT", T(2026, 6, 1), subject=("subcontractor", 1))
    late = clocks.start_clock(engagement, "CPS230-ARRANGEMENT", T(2026, 6, 1), subject=("subcontractor", 2))
    assert clocks.record_notice(on_time, T(2026, 6, 3), now=T(2026, 8, 1)).state == "met"
    late = clocks.record_notice(late, T(2026, 7, 30), now=T(2026, 8, 1))
    assert late.state == "breached" and late.met_at == T(2026, 7, 30)
