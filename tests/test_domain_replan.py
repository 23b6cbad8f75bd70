"""domain.schedule.replan: what re-planning may touch (upcoming requests; open ones only for an end date)."""
import datetime as dt

from domain.recurrence import parse_frequency
from domain.schedule import can_move, plan, replan

D = dt.date


def quarterly(end=None):
    return plan(parse_frequency("P3M"), D(2026, 1, 1), D(2026, 5, 1), "Australia/Sydney", end)


def test_future_requests_the_schedule_lost_are_retired_and_history_untouched():
    current = [(1, "accepted", D(2026, 1, 1), D(2026, 3, 31)), (2, "open", D(2026, 4, 1), D(2026, 6, 30)),
               (3, "upcoming", D(2026, 7, 1), D(2026, 9, 30))]
    assert replan(current, []).retire == [3]
    assert replan(current, []).reshape == []
    same = replan(current, quarterly())
    assert same.retire == [] and same.reshape == []


def test_an_end_date_cuts_the_running_period_and_moving_it_gives_it_back():
    current = [(2, "open", D(2026, 4, 1), D(2026, 6, 30)), (3, "upcoming", D(2026, 7, 1), D(2026, 9, 30))]
    cut = replan(current, quarterly(D(2026, 5, 15)), D(2026, 5, 15))
    assert cut.retire == [3] and [(i, p.period_end) for i, p in cut.reshape] == [(2, D(2026, 5, 15))]
    back = replan([(2, "open", D(2026, 4, 1), D(2026, 5, 15))], quarterly(), None, D(2026, 5, 15))
    assert [(i, p.period_end) for i, p in back.reshape] == [(2, D(2026, 6, 30))]
    # a frequency change never reshapes a running period
    monthly = plan(parse_frequency("P1M"), D(2026, 1, 1), D(2026, 5, 1), "Australia/Sydney")
    assert replan([(2, "open", D(2026, 4, 1), D(2026, 6, 30))], monthly).reshape == []


def test_retired_is_a_state_of_its_own():
    assert can_move("upcoming", "retired") and can_move("retired", "upcoming")
    assert not can_move("retired", "submitted") and not can_move("accepted", "retired")
