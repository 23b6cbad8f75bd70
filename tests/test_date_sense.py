"""Dates that are plainly wrong are refused, those that may be right are accepted with a warning: a pack's period
ends by today (the engagement's local date); a new finding is due today or later; an edit leaving a finding due in
the past is kept, with a warning."""
from __future__ import annotations

import datetime as dt

from domain.timeutil import local
from models import Finding, Pack, utcnow
from tests.test_incidents import setup as setup  # noqa: F401 (the fixture)


def _today() -> dt.date:
    return local(utcnow(), "Australia/Sydney").date()


def test_a_pack_period_ending_in_the_future_is_refused_and_nothing_is_queued(client, setup):
    url = f"/api/v1/engagements/{setup['engagement']}/packs"
    for end in ("2030-06-30", (_today() + dt.timedelta(days=1)).isoformat()):
        response = client.post(url, headers=setup["risk"], json={"frameworks": ["CPS234"],
                                                                 "period_start": "2026-01-01", "period_end": end})
        assert response.status_code == 422, end
        error = response.get_json()["error"]
        assert error["field"] == "period_end" and "in the future" in error["message"]
    assert Pack.select().count() == 0
    today = client.post(url, headers=setup["risk"], json={"frameworks": ["CPS234"], "period_start": "2026-01-01",
                                                          "period_end": _today().isoformat()})
    assert today.status_code == 202


def test_a_new_finding_due_in_the_past_is_refused_an_edit_to_the_past_is_warned(client, setup):
    url = f"/api/v1/engagements/{setup['engagement']}/findings"
    past = client.post(url, headers=setup["risk"], json={"title": "Typo of the year", "due_date": "2020-03-31"})
    assert past.status_code == 422
    assert past.get_json()["error"]["field"] == "due_date" and "in the past" in past.get_json()["error"]["message"]
    assert Finding.select().count() == 0
    made = client.post(url, headers=setup["risk"], json={"title": "Access review", "due_date": _today().isoformat()})
    assert made.status_code == 201 and "warnings" not in made.get_json()
    finding = f"/api/v1/findings/{made.get_json()['id']}"
    nine_days = (_today() + dt.timedelta(days=9)).isoformat()
    later = client.patch(finding, headers=setup["risk"], json={"due_date": nine_days})
    assert later.status_code == 200 and "warnings" not in later.get_json()
    backdated = client.patch(finding, headers=setup["risk"], json={"due_date": "2026-01-31"})
    assert backdated.status_code == 200 and backdated.get_json()["due_date"] == "2026-01-31"
    assert "overdue from now on" in backdated.get_json()["warnings"][0]
