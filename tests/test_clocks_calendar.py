"""Calendar truth (SPEC §4): a site keeps its own state's time, business days count by a named calendar,
regional holidays only in their region, and the governance rule's due dates use the override table too."""
from __future__ import annotations

import datetime as dt
import shutil

import pytest

from domain.business_days import BusinessCalendar, check_place_timezone
from domain.clocks import Rule, Settings, timing
from domain.timeutil import local
from models import Engagement, HolidayOverride
from services.incidents import clocks
from services.register.library_sync import DEFAULT_DIRECTORY, load_library
from tests.conftest import bearer

T = dt.datetime
BD_10 = Rule("CPS234-36", {}, "client_aware_at", 10, "business_days")


@pytest.fixture
def admin(client, make_user):
    return bearer(make_user("client_admin"))


def create(client, admin, **body):
    data = {"name": "Perth centre", "provider": "BPO W", "frameworks": ["CPS234"], "place": "WA",
            "start_date": "2026-01-01"} | body
    return client.post("/api/v1/engagements", headers=admin, json=data)


def test_a_wa_engagements_10_business_days_end_in_perth(client, admin):
    response = create(client, admin)  # no timezone given: the place's own
    assert response.status_code == 201, response.get_json()
    engagement = Engagement.get_by_id(response.get_json()["id"])
    assert engagement.timezone == "Australia/Perth"
    # aware 17:00 AWST on Monday 21 December 2026 (20:00 in Sydney): the day of awareness is not counted
    clock = clocks.start_clock(engagement, "CPS234-36", T(2026, 12, 21, 9, 0), subject=("incident", 1))
    assert local(clock.deadline_at, "Australia/Perth").isoformat() == "2027-01-07T23:59:59+08:00"
    assert clock.deadline_at == T(2027, 1, 7, 15, 59, 59)  # midnight in Perth, not in Sydney (13:00 UTC)
    assert clock.basis.startswith("10 business days WA") and "Australia/Perth" in clock.calendar


def test_a_timezone_that_contradicts_the_place_is_refused_unless_the_site_runs_elsewhere(client, admin):
    for place, tz in (("WA", "Australia/Sydney"), ("QLD", "Australia/Sydney"), ("SA", "Australia/Perth"),
                      ("NT", "Australia/Brisbane")):
        response = create(client, admin, place=place, timezone=tz)
        assert response.status_code == 422 and response.get_json()["error"]["field"] == "timezone", (place, tz)
        assert "site_elsewhere" in response.get_json()["error"]["message"]
    assert Engagement.select().count() == 0
    assert create(client, admin, timezone="Australia/Sydney", site_elsewhere=True).status_code == 201
    assert create(client, admin, name="Sydney centre", place="NSW").get_json()["timezone"] == "Australia/Sydney"
    check_place_timezone("QLD", "Australia/Lindeman")  # the Whitsundays keep Queensland time too


def test_business_day_rules_name_the_calendar_they_count_by():
    start = T(2026, 5, 31, 2, 0)  # Sunday 31 May 2026, 10:00 AWST; WA Day is Monday 1 June (not in NSW)
    wa = Settings(place="WA", timezone="Australia/Perth")
    office = Settings(place="WA", timezone="Australia/Perth", calendar="head_office", head_office="NSW")
    both = Settings(place="WA", timezone="Australia/Perth", calendar="intersection", head_office="NSW")
    by_place, by_office, by_both = (timing(BD_10, start, s) for s in (wa, office, both))
    assert local(by_place.deadline_at, "Australia/Perth").date() == dt.date(2026, 6, 15)  # WA Day 1 June skipped
    assert local(by_office.deadline_at, "Australia/Perth").date() == dt.date(2026, 6, 15)  # NSW: King's Birthday 8 June
    assert local(by_both.deadline_at, "Australia/Perth").date() == dt.date(2026, 6, 12)  # neither: not kept by both
    assert by_place.basis == "10 business days WA"
    assert by_office.basis == "10 business days NSW (the client's head office)"
    assert by_both.basis.startswith("10 business days WA∩NSW (holidays both keep")
    assert by_both.calendar.startswith("AU-WA∩NSW holidays")


def test_regional_holidays_count_only_for_a_site_in_that_region():
    show_day = dt.date(2026, 8, 12)  # the Royal Queensland Show: a Brisbane holiday, not a state-wide one
    assert BusinessCalendar("QLD").is_business_day(show_day)
    assert not BusinessCalendar("QLD", region="Brisbane").is_business_day(show_day)
    cup = dt.date(2026, 11, 3)  # Melbourne Cup Day: regional Victorian councils substitute another day
    assert not BusinessCalendar("VIC", region="Melbourne").is_business_day(cup)
    assert BusinessCalendar("VIC", region="Ballarat").is_business_day(cup)


def test_calendar_settings_through_the_api_and_bad_ones_refused(client, admin):
    engagement = create(client, admin).get_json()["id"]
    url = f"/api/v1/engagements/{engagement}/clock-settings"
    body = client.post(url, headers=admin, json={"business_day_calendar": "intersection", "head_office": "nsw",
                                                 "site_region": "Perth"}).get_json()
    assert (body["business_day_calendar"], body["head_office"], body["site_region"]) == ("intersection", "NSW", "Perth")
    for bad, field in (({"business_day_calendar": "lunar"}, "business_day_calendar"),
                       ({"head_office": "Queensland"}, "head_office"), ({"head_office": 7}, "head_office")):
        response = client.post(url, headers=admin, json=bad)
        assert response.status_code == 422 and response.get_json()["error"]["field"] == field
    row = Engagement.get_by_id(engagement)
    assert (row.business_day_calendar, row.head_office) == ("intersection", "NSW")


def test_the_governance_rules_due_date_uses_the_override_table(client, admin):
    engagement = Engagement.get_by_id(create(client, admin).get_json()["id"])
    before = clocks.business_calendar(engagement).add_business_days(dt.date(2026, 7, 6), 5)
    HolidayOverride.create(place="WA", date=dt.date(2026, 7, 8), is_holiday=True, name="Local closure")
    after = clocks.business_calendar(engagement).add_business_days(dt.date(2026, 7, 6), 5)
    assert (before, after) == (dt.date(2026, 7, 13), dt.date(2026, 7, 14))


# ------------------------------------------------------------------ a business-day rule names its calendar

WA_DAY_SUNDAY = T(2026, 5, 31, 2, 0)  # Sunday 31 May 2026, 10:00 AWST; WA Day is Monday 1 June (not in NSW)


def test_a_rules_own_calendar_outranks_the_engagements_choice_and_the_basis_says_so():
    by_place = Settings(place="WA", timezone="Australia/Perth", calendar="place", head_office="NSW")
    by_both = Settings(place="WA", timezone="Australia/Perth", calendar="intersection", head_office="NSW")
    intersection_rule = Rule("CPS234-36", {}, "client_aware_at", 10, "business_days", calendar="intersection")
    place_rule = Rule("CPS234-36", {}, "client_aware_at", 10, "business_days", calendar="place")
    # the engagement counts WA days (WA Day skipped: 15 June), the rule the days WA and NSW both keep (12 June)
    named = timing(intersection_rule, WA_DAY_SUNDAY, by_place)
    assert local(named.deadline_at, "Australia/Perth").date() == dt.date(2026, 6, 12)
    assert named.basis == ("10 business days WA∩NSW (holidays both keep: the earlier deadline), by the rule's "
                           "intersection calendar")
    assert named.calendar.startswith("AU-WA∩NSW holidays")
    # the reverse: the engagement picks the intersection, the rule counts by the place (WA Day skipped)
    reverse = timing(place_rule, WA_DAY_SUNDAY, by_both)
    assert local(reverse.deadline_at, "Australia/Perth").date() == dt.date(2026, 6, 15)
    assert reverse.basis == "10 business days WA, by the rule's place calendar"
    # without a named calendar the engagement's choice still decides
    assert local(timing(BD_10, WA_DAY_SUNDAY, by_both).deadline_at, "Australia/Perth").date() == dt.date(2026, 6, 12)


def test_a_rule_naming_the_head_office_counts_its_overrides_not_the_places():
    office = Rule("CPS234-36", {}, "client_aware_at", 10, "business_days", calendar="head_office")
    closure = {dt.date(2026, 6, 2): True}  # a gazetted one-off closure in NSW only
    settings = Settings(place="WA", timezone="Australia/Perth", head_office="NSW", office_overrides=closure)
    t = timing(office, WA_DAY_SUNDAY, settings)
    # NSW days: 1 June counts, 2 June closed, King's Birthday 8 June skipped -> 16 June
    assert local(t.deadline_at, "Australia/Perth").date() == dt.date(2026, 6, 16)
    assert t.basis == "10 business days NSW (the client's head office), by the rule's head office calendar"


@pytest.mark.parametrize("rule_calendar, engagement_calendar, last_day, which", [
    ("intersection", "place", dt.date(2026, 6, 12), "WA∩NSW"),
    ("place", "intersection", dt.date(2026, 6, 15), "WA"),
])
def test_the_library_loader_keeps_a_rules_calendar_and_clocks_count_by_it(
        client, admin, tmp_path, rule_calendar, engagement_calendar, last_day, which):
    copy = tmp_path / "controls"
    shutil.copytree(DEFAULT_DIRECTORY, copy, ignore=shutil.ignore_patterns("README.md"))
    rules = copy / "clock_rules.yaml"
    text = rules.read_text(encoding="utf-8")
    old = "    duration: 10\n    unit: business_days\n    notify: APRA\n"
    assert text.count(old) == 1  # CPS234-36
    rules.write_text(text.replace(old, old + f"    calendar: {rule_calendar}\n"), encoding="utf-8")
    result = load_library(str(copy))
    assert result.changed and result.summary["clock_rules"] == {"added": 0, "changed": 1, "retired": 0}
    engagement = Engagement.get_by_id(create(client, admin).get_json()["id"])
    url = f"/api/v1/engagements/{engagement.id}/clock-settings"
    assert client.post(url, headers=admin, json={"business_day_calendar": engagement_calendar,
                                                 "head_office": "NSW"}).status_code == 200
    clock = clocks.start_clock(Engagement.get_by_id(engagement.id), "CPS234-36", WA_DAY_SUNDAY,
                               subject=("incident", 1))
    assert local(clock.deadline_at, "Australia/Perth").date() == last_day
    assert clock.basis.startswith(f"10 business days {which}")
    assert f"by the rule's {rule_calendar} calendar" in clock.basis
