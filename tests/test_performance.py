"""Contract performance rules (SPEC §8) without a database: periods, levels, bands, credits (a worked example by
hand), earn-back, the ladder, and the KPI catalogue's validation."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from domain import performance as rules
from domain.errors import Conflict, ValidationError
from domain.library import LibraryError
from domain.performance_library import read_catalogue


def test_periods_are_months_or_iso_weeks_and_a_week_counts_in_the_month_it_ends():
    march = rules.parse_period("2026-03")
    assert (march.start, march.end, march.kind) == (dt.date(2026, 3, 1), dt.date(2026, 3, 31), "monthly")
    week = rules.parse_period("2026-W05")  # Mon 26 Jan - Sun 1 Feb 2026
    assert (week.start, week.end, week.month) == (dt.date(2026, 1, 26), dt.date(2026, 2, 1), "2026-02")
    assert rules.parse_period("2027-01").previous().text == "2026-12"
    assert rules.parse_period("2026-W53", None).text == "2026-W53"  # 2026 has 53 ISO weeks
    assert rules.months_between("2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]


@pytest.mark.parametrize("bad,kind", [("2026-13", None), ("2026-3", None), ("26-03", None), ("2025-W53", None),
                                      ("2026-W01", "monthly"), ("2026-03", "weekly"), (None, None), ("", None)])
def test_bad_periods_are_refused(bad, kind):
    with pytest.raises(ValidationError) as info:
        rules.parse_period(bad, kind)
    assert info.value.field == "period"


def test_result_periods_must_have_begun_and_not_precede_the_engagement():
    start, today = dt.date(2026, 2, 1), dt.date(2026, 6, 15)
    rules.check_result_period(rules.parse_period("2026-06"), engagement_start=start, today=today)
    for text in ("2026-07", "2026-01"):
        with pytest.raises(ValidationError):
            rules.check_result_period(rules.parse_period(text), engagement_start=start, today=today)


@pytest.mark.parametrize("value,direction,outcome", [
    ("80", "higher", "met"), ("79.99", "higher", "below_expected"), ("75", "higher", "below_expected"),
    ("74.9", "higher", "missed"), ("30", "lower", "met"), ("45", "lower", "below_expected"),
    ("45.01", "lower", "missed")])
def test_outcomes_against_the_two_levels(value, direction, outcome):
    levels = rules.Levels(direction, D("80"), D("75")) if direction == "higher" else rules.Levels(direction, D("30"),
                                                                                                   D("45"))
    assert rules.judge(D(value), levels) == outcome


def test_a_minimum_better_than_expected_is_refused():
    with pytest.raises(ValidationError) as info:
        rules.check_levels("higher", D("80"), D("85"))
    assert info.value.field == "minimum"
    with pytest.raises(ValidationError):
        rules.check_levels("lower", D("30"), D("20"))
    rules.check_levels("higher", D("100"), D("100"))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "abc", "", None, True, "1e400", [1]])
def test_values_must_be_finite_numbers(value):
    with pytest.raises(ValidationError):
        rules.parse_decimal(value, "value")


def test_values_never_pass_through_float_and_percentages_stay_in_range():
    assert rules.parse_decimal("80.10", "value") == D("80.10")
    assert rules.parse_decimal(0.1, "value") == D("0.1")
    with pytest.raises(ValidationError):
        rules.check_value("percent", D("100.5"))
    with pytest.raises(ValidationError):
        rules.check_value("seconds", D("-1"))


def test_allocations_only_on_monthly_kpis_and_within_the_pool():
    with pytest.raises(ValidationError):
        rules.check_allocation("weekly", D("5"))
    rules.check_allocation("weekly", D("0"))
    rules.check_pool([D("100"), D("150")], D("250"))
    with pytest.raises(ValidationError):
        rules.check_pool([D("100"), D("150.01")], D("250"))


def test_bands_are_contiguous_and_charge_the_band_the_volume_falls_in():
    bands = rules.check_bands([{"from": 0, "to": 50000, "unit_rate": "4.10"},
                               {"from": 50000, "to": None, "unit_rate": "3.90"}])
    assert rules.band_charges(30000, bands) == D("123000.00")
    assert rules.band_charges(50000, bands) == D("195000.00")
    for bad in ([{"from": 0, "to": 100, "unit_rate": "1"}, {"from": 90, "to": 200, "unit_rate": "1"}],  # overlap
                [{"from": 0, "to": 100, "unit_rate": "1"}, {"from": 120, "to": 200, "unit_rate": "1"}],  # gap
                [{"from": 10, "to": 100, "unit_rate": "1"}],  # not from 0
                [{"from": 0, "to": None, "unit_rate": "1"}, {"from": 100, "to": 200, "unit_rate": "1"}],
                [{"from": 0, "to": 100, "unit_rate": "-1"}], "bands"):
        with pytest.raises(ValidationError) as info:
            rules.check_bands(bad)
        assert info.value.field == "bands"


def test_surge_is_above_forecast_plus_tolerance():
    assert not rules.is_surge(11000, 10000, D("10"))
    assert rules.is_surge(11001, 10000, D("10"))
    assert not rules.is_surge(None, 10000, D("10"))


def test_credits_worked_by_hand_with_multiplier_and_cap():
    """30,000 contacts at 4.10 = 123,000.00 charges; 12 % at risk = 14,760.00. KPI A (60 %) missed this month and
    last: 14,760 × 0.60 × 1.5 = 13,284.00; KPI B (50 %) missed: 7,380.00. Together 20,664.00 > 14,760.00, so each is
    scaled by 14,760 / 20,664 = 5/7: A = 9,488.571… → 9,488.57, B = 5,271.428… → 5,271.43; total 14,760.00."""
    month = rules.compute_credits(D("123000.00"), D("12"), D("1.5"),
                                  [rules.Miss("A", D("60"), True), rules.Miss("B", D("50"), False)])
    assert (month.at_risk, month.capped, month.total) == (D("14760.00"), True, D("14760.00"))
    assert [(line.kpi, line.multiplier, line.accrued, line.amount) for line in month.lines] == [
        ("A", D("1.5"), D("13284.00"), D("9488.57")), ("B", D("1"), D("7380.00"), D("5271.43"))]


def test_an_uncapped_month_pays_each_allocation_and_rounds_half_up_only_at_the_end():
    month = rules.compute_credits(D("1000.05"), D("12"), D("1.0"), [rules.Miss("A", D("10"), False)])
    # 1000.05 × 0.12 × 0.10 = 12.0006 → 12.00; at risk 120.006 → 120.01
    assert (month.at_risk, month.capped, month.lines[0].amount, month.total) == (D("120.01"), False, D("12.00"),
                                                                                D("12.00"))
    thirds = rules.compute_credits(D("100"), D("100"), D("1"), [rules.Miss(c, D("50"), False) for c in "XYZ"])
    assert thirds.total == D("100.00") and sum(line.amount for line in thirds.lines) == D("100.00")
    assert rules.money(D("0.005")) == D("0.01")


def test_earn_back_over_n_months():
    assert rules.earn_back_state(0, []) == "payable"
    assert rules.earn_back_state(2, ["met", "met"]) == "earned_back"
    assert rules.earn_back_state(2, ["met", None]) is None  # the window is open: no state yet
    assert rules.earn_back_state(2, [None, None]) is None
    assert rules.earn_back_state(2, ["met", "below_expected"]) == "payable"
    assert rules.earn_back_state(2, ["excused", None]) == "payable"


def test_state_machines_refuse_what_is_not_in_their_tables():
    rules.check_move(rules.CREDIT_TRANSITIONS, "payable", "credited", "credit")
    for table, old, new in ((rules.CREDIT_TRANSITIONS, "credited", "waived"),
                            (rules.CREDIT_TRANSITIONS, "earned_back", "credited"),
                            (rules.RESULT_TRANSITIONS, "accepted", "rejected"),
                            (rules.VERSION_TRANSITIONS, "approved", "rejected")):
        with pytest.raises(Conflict):
            rules.check_move(table, old, new, "thing")


def test_the_ladder_climbs_to_dispute_and_stops():
    assert [rules.tier_above(t) for t in rules.TIERS] == ["performance", "executive", "dispute", "dispute"]
    assert rules.consecutive_misses(["met", "missed", "missed"])
    assert not rules.consecutive_misses(["missed", "excused", "missed"])


def test_golden_set_advice_is_a_warning():
    assert rules.golden_set_warning(12) is None
    assert "8-15" in rules.golden_set_warning(3)
    assert rules.golden_set_warning(16)


def test_the_shipped_catalogue_is_valid_and_covers_the_golden_set():
    templates = {t.code: t for t in read_catalogue()}
    assert 8 <= len(templates) <= 15
    assert {"SL-80-20", "ASA", "ABANDON", "FCR", "QA-SCORE", "COMPLAINT-REWORK", "CONTAINMENT", "ESCALATION",
            "ADHERENCE", "FORECAST-ACC", "CSAT", "PCI-CALL"} <= set(templates)
    for template in templates.values():
        assert template.source and set(template.definition) == set(rules.DEFINITION_KEYS)
    assert sum(t.allocation_pct for t in templates.values()) <= 250


def test_a_bad_catalogue_names_every_problem_with_its_line(tmp_path):
    path = tmp_path / "kpis.yaml"
    path.write_text("""templates:
  - code: X
    name: Bad levels
    category: quality
    unit: percent
    direction: higher
    period: monthly
    expected: "80"
    minimum: "90"
    definition: {source: a, formula: b, sampling: c, exclusions: d}
    source: test
  - code: Y
    name: Weekly with allocation
    category: nonsense
    unit: percent
    direction: higher
    period: weekly
    expected: "80"
    minimum: "70"
    definition: {source: a, formula: b, sampling: c, exclusions: d}
    source: test
""")
    with pytest.raises(LibraryError) as info:
        read_catalogue(str(path))
    text = str(info.value)
    assert "kpis.yaml:9: X: minimum 90 is better than expected 80" in text
    assert "kpis.yaml:14: Y: category 'nonsense'" in text
