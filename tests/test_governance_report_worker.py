"""The performance report is built by the same workers as evidence packs (SPEC §9: "built like a pack"): the
``pack-worker`` command claims queued reports too, a dead worker's claim is taken back as a pack's is, a live
worker's heartbeat keeps it while the renderer runs, and the executive meeting's page follows the build."""
from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading

import pytest

from models import Forum, Meeting, PerformanceReport, utcnow
from services.auditors import packs, reports
from tests.conftest import login
from tests.test_governance import gov as gov  # noqa: F401 (the fixture)


def _executive(gov) -> Meeting:
    return (Meeting.select().join(Forum).where(Meeting.engagement == gov["engagement"].id,
                                               Forum.tier == "executive", Meeting.status == "scheduled").first())


@pytest.fixture
def report(gov):
    """A queued report of the last month for the engagement's executive meeting; with ``claimed_by``: building."""
    def make(claimed_by: str = "", ago: dt.timedelta = dt.timedelta(seconds=5)) -> PerformanceReport:
        today = dt.date.today()
        return PerformanceReport.create(
            engagement=gov["engagement"].id, meeting=_executive(gov).id, period_start=today - dt.timedelta(days=30),
            period_end=today, requested_by=gov["admin"].id, status="building" if claimed_by else "queued",
            progress=40 if claimed_by else 0, claimed_by=claimed_by,
            claimed_at=utcnow() - ago if claimed_by else None)
    return make


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_pack_worker_builds_queued_reports(report, cli_runner):
    queued = report()
    result = cli_runner.invoke(args=["pack-worker", "--once"])
    assert result.exit_code == 0 and f"report {queued.id}: ready" in result.output, result.output
    built = PerformanceReport.get_by_id(queued.id)
    assert (built.status, built.progress) == ("ready", 100) and built.pdf_sha256 and built.xlsx_sha256


def test_a_dead_workers_report_is_taken_over_at_once(report):
    stale = report(claimed_by=f"{socket.gethostname()}:{_dead_pid()}")
    taken = reports.claim_next("next-worker")
    assert taken is not None and taken.id == stale.id and taken.claimed_by == "next-worker"


def test_a_silent_claim_of_another_host_is_taken_over_within_minutes(report):
    silent = report(claimed_by="elsewhere:4242", ago=packs.CLAIM_TTL + dt.timedelta(seconds=30))
    taken = reports.claim_next("next-worker")
    assert taken is not None and taken.id == silent.id


def test_a_live_claim_is_kept_by_its_heartbeat(report):
    live = report(claimed_by=f"{socket.gethostname()}:{os.getpid()}", ago=dt.timedelta(seconds=90))
    before = PerformanceReport.get_by_id(live.id).claimed_at
    with packs.Heartbeat(live.id, live.claimed_by, every=dt.timedelta(milliseconds=20), model=PerformanceReport):
        deadline = utcnow() + dt.timedelta(seconds=20)
        while PerformanceReport.get_by_id(live.id).claimed_at == before and utcnow() < deadline:
            threading.Event().wait(0.01)
    assert PerformanceReport.get_by_id(live.id).claimed_at > before
    assert reports.claim_next("next-worker") is None  # neither stale nor gone: nobody else takes it


def test_the_meeting_page_follows_the_build(report, gov, app):
    building = report(claimed_by="elsewhere:4242")
    web = app.test_client()
    login(web, gov["admin"])
    page = web.get(f"/meetings/{building.meeting_id}").get_data(as_text=True)
    assert f'data-status-url="/api/v1/reports/{building.id}"' in page
    assert 'class="progress report-progress" max="100" value="40"' in page
    polled = web.get(f"/api/v1/reports/{building.id}").get_json()  # what the page's script polls
    assert (polled["status"], polled["progress"], polled["file_url"]) == ("building", 40, None)


def test_a_report_is_made_for_an_executive_meeting_only(client, gov):
    weekly = (Meeting.select().join(Forum).where(Meeting.engagement == gov["engagement"].id,
                                                 Forum.tier == "operational").first())
    today = dt.date.today()
    refused = client.post(f"/api/v1/engagements/{gov['engagement'].id}/reports", headers=gov["client"], json={
        "period_start": (today - dt.timedelta(days=30)).isoformat(), "period_end": today.isoformat(),
        "meeting_id": weekly.id})
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "meeting_id"
    assert PerformanceReport.select().count() == 0
