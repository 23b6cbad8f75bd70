"""Recurrence, business days and time conversion: the rules deadlines depend on."""
import datetime as dt

import pytest

from domain.business_days import BusinessCalendar
from domain.recurrence import parse_frequency
from domain.schedule import can_move, initial_status, plan
from domain.timeutil import end_of_local_day, local, parse_instant, to_utc_naive

D = dt.date


class TestRecurrence:
    def test_quarterly_stays_on_its_anchor_day_across_short_months(self):
        starts = [s for s, _ in parse_frequency("P3M").periods(D(2026, 1, 31), D(2027, 2, 1))]
        assert starts == [D(2026, 1, 31), D(2026, 4, 30), D(2026, 7, 31), D(2026, 10, 31), D(2027, 1, 31)]

    def test_monthly_from_the_31st_does_not_drift_to_the_28th(self):
        starts = [s for s, _ in parse_frequency("P1M").periods(D(2026, 1, 31), D(2026, 6, 1))]
        assert starts[1] == D(2026, 2, 28) and starts[2] == D(2026, 3, 31) and starts[4] == D(2026, 5, 31)

    def test_periods_are_contiguous_and_cross_the_year_end(self):
        periods = parse_frequency("P6M").periods(D(2025, 7, 1), D(2027, 1, 1))
        assert periods[0] == (D(2025, 7, 1), D(2025, 12, 31))
        assert periods[1] == (D(2026, 1, 1), D(2026, 6, 30))
        for (_, end), (start, _) in zip(periods, periods[1:], strict=False):
            assert end + dt.timedelta(days=1) == start

    def test_annual_from_29_february(self):
        starts = [s for s, _ in parse_frequency("P1Y").periods(D(2024, 2, 29), D(2028, 3, 1))]
        assert starts == [D(2024, 2, 29), D(2025, 2, 28), D(2026, 2, 28), D(2027, 2, 28), D(2028, 2, 29)]

    def test_rrule_last_day_of_month(self):
        periods = parse_frequency("RRULE:FREQ=MONTHLY;BYMONTHDAY=-1").periods(D(2026, 1, 1), D(2026, 3, 31))
        assert [s for s, _ in periods] == [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31)]

    def test_event_frequency_has_no_schedule(self):
        assert parse_frequency("event").periods(D(2026, 1, 1), D(2030, 1, 1)) == []

    @pytest.mark.parametrize("text", ["", "P", "P0M", "3 months", "quarterly", "RRULE:FREQ=SOMETIMES", None, "PT1H"])
    def test_bad_frequencies_are_refused(self, text):
        with pytest.raises(ValueError):
            parse_frequency(text)


class TestBusinessDays:
    def test_ten_business_days_over_christmas_in_nsw(self):
        # awareness day not counted; 25, 26 (Sat), 28 Dec (Boxing Day observed) and 1 Jan skipped
        assert BusinessCalendar("NSW").add_business_days(D(2026, 12, 21), 10) == D(2027, 1, 7)

    def test_state_holidays_differ(self):
        # Melbourne Cup day 2026 (3 Nov) is a holiday for a Melbourne site, never a NSW one; regional Victorian
        # councils substitute another day, so a VIC site of unknown region counts it as a business day (the
        # earlier, safer deadline)
        assert not BusinessCalendar("VIC", region="Melbourne").is_business_day(D(2026, 11, 3))
        assert BusinessCalendar("VIC").is_business_day(D(2026, 11, 3))
        assert BusinessCalendar("NSW").is_business_day(D(2026, 11, 3))
        # Labour Day 2026 (9 Mar) is a VIC holiday state-wide, not a NSW one
        assert not BusinessCalendar("VIC").is_business_day(D(2026, 3, 9))
        assert BusinessCalendar("NSW").is_business_day(D(2026, 3, 9))

    def test_override_table_wins_over_the_package(self):
        calendar = BusinessCalendar("NSW", overrides={D(2026, 11, 3): True, D(2026, 1, 26): False})
        assert not calendar.is_business_day(D(2026, 11, 3))
        assert calendar.is_business_day(D(2026, 1, 26))
        assert "overrides" in calendar.description and "holidays" in calendar.description

    def test_unknown_place_is_refused(self):
        with pytest.raises(ValueError):
            BusinessCalendar("XYZ")


class TestTime:
    def test_end_of_local_day_is_stored_in_utc(self):
        # Sydney is UTC+11 in January (daylight time)
        assert end_of_local_day(D(2026, 1, 15), "Australia/Sydney") == dt.datetime(2026, 1, 15, 12, 59, 59)
        assert end_of_local_day(D(2026, 7, 15), "Australia/Sydney") == dt.datetime(2026, 7, 15, 13, 59, 59)

    def test_instants_need_an_offset(self):
        assert parse_instant("2026-04-04T09:00:00+11:00") == dt.datetime(2026, 4, 3, 22, 0)
        with pytest.raises(ValueError):
            parse_instant("2026-04-04T09:00:00")
        with pytest.raises(ValueError):
            to_utc_naive(dt.datetime(2026, 1, 1))

    def test_local_display_follows_daylight_saving(self):
        utc = dt.datetime(2026, 4, 4, 22, 0)  # after DST ended in Sydney on 5 Apr 03:00 local
        assert local(utc, "Australia/Sydney").utcoffset() == dt.timedelta(hours=10)


class TestSchedule:
    def test_plan_covers_every_period_started_by_today_and_the_next_one(self):
        planned = plan(parse_frequency("P3M"), D(2026, 1, 1), D(2026, 8, 1), "Australia/Sydney")
        assert [p.period_start for p in planned] == [D(2026, 1, 1), D(2026, 4, 1), D(2026, 7, 1), D(2026, 10, 1)]
        assert planned[0].due_at == end_of_local_day(D(2026, 3, 31), "Australia/Sydney")

    def test_plan_on_the_first_day_of_a_period(self):
        planned = plan(parse_frequency("P1M"), D(2026, 1, 1), D(2026, 3, 1), "Australia/Sydney")
        assert [p.period_start for p in planned][-2:] == [D(2026, 3, 1), D(2026, 4, 1)]

    def test_future_start_plans_the_first_period(self):
        planned = plan(parse_frequency("P1Y"), D(2027, 1, 1), D(2026, 8, 1), "Australia/Sydney")
        assert len(planned) == 1 and planned[0].period_end == D(2027, 12, 31)

    def test_initial_status(self):
        due = dt.datetime(2026, 3, 31, 12, 59, 59)
        grace = dt.timedelta(days=5)
        assert initial_status(D(2026, 1, 1), due, dt.datetime(2026, 4, 10), D(2026, 4, 10), grace) == "overdue"
        assert initial_status(D(2026, 1, 1), due, dt.datetime(2026, 4, 2), D(2026, 4, 2), grace) == "open"
        assert initial_status(D(2026, 5, 1), due + dt.timedelta(days=90), dt.datetime(2026, 4, 2),
                              D(2026, 4, 2), grace) == "upcoming"

    def test_state_machine_refuses_skipping_review(self):
        assert can_move("open", "submitted") and can_move("submitted", "accepted")
        assert not can_move("open", "accepted")
        assert not can_move("upcoming", "accepted")


class TestNextStatus:
    """The time-driven moves of a request with no pending decision (domain.schedule.next_status)."""
    DUE = dt.datetime(2026, 3, 31, 12, 59, 59)  # end of 31 March, Sydney
    GRACE = dt.timedelta(days=5)
    JAN = D(2026, 1, 1)

    def move(self, current, now, today=None, period_start=JAN, due=DUE):
        from domain.schedule import next_status
        return next_status(current, period_start, due, now, today or now.date(), self.GRACE)

    def test_upcoming_opens_on_the_local_first_day_of_its_period(self):
        start = D(2026, 4, 1)
        due = dt.datetime(2026, 6, 30, 13, 59, 59)
        now = dt.datetime(2026, 3, 31, 14, 30)  # 01:30 on 1 April in Sydney, still 31 March in UTC
        assert self.move("upcoming", now, today=D(2026, 3, 31), period_start=start, due=due) is None
        assert self.move("upcoming", now, today=D(2026, 4, 1), period_start=start, due=due) == "open"

    def test_overdue_only_after_due_plus_grace(self):
        assert self.move("open", self.DUE + self.GRACE) is None
        assert self.move("open", self.DUE + self.GRACE + dt.timedelta(seconds=1)) == "overdue"
        assert self.move("rejected", self.DUE + self.GRACE) is None
        assert self.move("rejected", self.DUE + self.GRACE + dt.timedelta(seconds=1)) == "overdue"

    def test_upcoming_past_due_goes_straight_to_overdue(self):
        assert self.move("upcoming", self.DUE + dt.timedelta(days=30)) == "overdue"

    @pytest.mark.parametrize("state", ["submitted", "accepted", "overdue"])
    def test_decided_or_waiting_requests_never_move_with_time(self, state):
        assert self.move(state, self.DUE + dt.timedelta(days=400)) is None
        assert self.move(state, dt.datetime(2026, 2, 1)) is None

    def test_open_request_within_its_period_stays_open(self):
        assert self.move("open", dt.datetime(2026, 2, 1)) is None

    def test_every_time_driven_move_is_allowed_by_the_state_machine(self):
        from domain.schedule import BECOME_OPEN, BECOME_OVERDUE
        assert all(can_move(s, "overdue") for s in BECOME_OVERDUE)
        assert all(can_move(s, "open") for s in BECOME_OPEN)


class TestPeriodsToAdd:
    def planned(self, until=None):
        return plan(parse_frequency("P3M"), D(2026, 1, 1), until or D(2026, 8, 1), "Australia/Sydney")

    def test_only_periods_after_what_is_already_requested(self):
        from domain.schedule import periods_to_add
        out = periods_to_add(self.planned(D(2026, 11, 1)), covered_until=D(2026, 9, 30), today=D(2026, 11, 1))
        assert [p.period_start for p in out] == [D(2026, 10, 1), D(2027, 1, 1)]

    def test_fully_covered_schedule_adds_nothing(self):
        from domain.schedule import periods_to_add
        assert periods_to_add(self.planned(), covered_until=D(2026, 12, 31), today=D(2026, 8, 1)) == []

    def test_plan_stops_at_the_end_date_and_cuts_the_last_period_short(self):
        planned = plan(parse_frequency("P3M"), D(2026, 1, 1), D(2026, 12, 1), "Australia/Sydney", end=D(2026, 7, 15))
        assert [(p.period_start, p.period_end) for p in planned] == [
            (D(2026, 1, 1), D(2026, 3, 31)), (D(2026, 4, 1), D(2026, 6, 30)), (D(2026, 7, 1), D(2026, 7, 15))]
        assert planned[-1].due_at == end_of_local_day(D(2026, 7, 15), "Australia/Sydney")

    def test_a_newly_applicable_requirement_starts_with_the_current_period(self):
        from domain.schedule import periods_to_add
        out = periods_to_add(self.planned(), covered_until=None, today=D(2026, 8, 1))
        assert [p.period_start for p in out] == [D(2026, 7, 1), D(2026, 10, 1)]
        later = periods_to_add(self.planned(), covered_until=None, today=D(2026, 8, 1), first_due=D(2026, 12, 31))
        assert [p.period_start for p in later] == [D(2026, 10, 1)]
