"""Audit rights end to end in Chromium: the client admin grants an auditor access, the auditor uses its portal,
views evidence in the browser, builds a pack (a real ``pack-worker`` process builds it while the page's progress
bar follows) and downloads it; the client reads every one of those reads in the access log, and the auditor
loses access at revocation and at expiry."""
from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from conftest import PASSWORD

from models import AuditEvent, AuditorGrant, Evidence, utcnow
from services.auditors import pack_verify

pytestmark = pytest.mark.browser
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sign_in(page, user) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))


@pytest.fixture
def pack_worker(app, database_url):
    """A real ``flask pack-worker`` process on the test database and store."""
    env = {**os.environ, "DATABASE_URL": database_url, "EVIDENCE_STORE": app.config["EVIDENCE_STORE"],
           "SECRET_KEY": "test-secret", "SCHEDULER": "off"}
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "pack-worker", "--interval", "0.3"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield worker
    worker.terminate()
    worker.wait(timeout=20)


def test_grant_portal_pack_log_revocation_and_expiry(browser_page, rights_world, pack_worker, tmp_path):
    page, w = browser_page, rights_world
    engagement, auditor = w["engagement"], w["auditor"]
    from axe_playwright_python.sync_playwright import Axe
    axe, problems = Axe(), []

    def audit(url: str) -> None:
        problems.extend(f"{url}: {v['id']} {[n['html'][:150] for n in v['nodes']]}"
                        for v in axe.run(page).response["violations"] if v["impact"] in ("serious", "critical"))

    # the client admin grants ISO 27001 and CPS 234 for three days
    sign_in(page, w["admin"])
    page.goto(f"/engagements/{engagement.id}/grants")
    page.get_by_label("Auditor's e-mail").fill(auditor.email)
    page.get_by_label("ISO27001-2022").check()
    page.get_by_label("CPS234").check()
    local_now = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(engagement.timezone))
    page.locator("#starts_at").fill((local_now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.locator("#expires_at").fill((local_now + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Grant access").click()
    assert "may now read" in page.get_by_role("status").first.inner_text()
    assert page.locator("#grants tbody tr").count() == 1
    audit("/grants")
    sign_out(page)

    # the auditor's landing page is its portal
    sign_in(page, auditor)
    assert page.get_by_role("heading", name="Your audit access").is_visible()
    card = page.locator(".grant-card")
    assert "CPS234" in card.inner_text() and "ISO27001-2022" in card.inner_text() and "PCIDSS" not in card.inner_text()
    assert card.locator(".grant-expiry").is_visible()
    audit("/")
    card.get_by_role("link", name="Obligations and evidence").click()
    audit("/obligations")
    first = page.locator("a[href^='/portal/evidence/']").first
    first.click()
    page.wait_for_url(re.compile(r"/portal/evidence/\d+$"))
    assert "evidence" in page.locator("#evidence-text").inner_text()  # the file itself, shown in the browser
    audit("/evidence")

    # a pack, built by the worker while the progress bar follows
    page.goto(f"/engagements/{engagement.id}/packs")
    page.locator("#period_start").fill("2025-07-01")
    page.locator("#period_end").fill("2026-06-30")
    page.get_by_role("button", name="Build pack").click()
    page.wait_for_url(re.compile(r"/packs/\d+$"))
    download_link = page.get_by_role("link", name="Download PDF")
    download_link.wait_for(state="visible", timeout=60000)
    assert page.evaluate("document.getElementById('pack-progress').value") == 100
    audit("/packs")
    with page.expect_download() as info:
        download_link.click()
    target = tmp_path / "pack.pdf"
    info.value.save_as(target)
    assert pack_verify.verify_file(target.read_bytes()).ok
    assert problems == []
    sign_out(page)

    # every read is in the client's access log
    reads = list(AuditEvent.select().where(AuditEvent.actor == auditor, AuditEvent.engagement == engagement))
    assert {"auditor.view", "evidence.download", "pack.download"} <= {e.action for e in reads}
    sign_in(page, w["admin"])
    page.goto(f"/engagements/{engagement.id}/auditor-access")
    log = page.locator("#access-log").inner_text()
    assert auditor.email in log and "pack.download" in log and "evidence.download" in log
    # revoke: the auditor's next request finds nothing
    page.goto(f"/engagements/{engagement.id}/grants")
    page.get_by_role("button", name=re.compile("Revoke the grant")).click()
    assert "revoked" in page.get_by_role("status").first.inner_text()
    sign_out(page)
    sign_in(page, auditor)
    assert page.get_by_role("heading", name="No active access").is_visible()
    response = page.goto(f"/portal/engagements/{engagement.id}")
    assert response.status == 404
    sign_out(page)

    # and a fresh grant that expires: access ends at its expiry, without anyone acting
    grant = AuditorGrant.create(auditor=auditor, engagement=engagement, frameworks='["CPS234"]',
                                starts_at=utcnow() - dt.timedelta(hours=1), expires_at=utcnow() + dt.timedelta(hours=1))
    sign_in(page, auditor)
    evidence = Evidence.select().where(Evidence.engagement == engagement, Evidence.status == "accepted").first()
    assert page.goto(f"/portal/engagements/{engagement.id}").status == 200
    AuditorGrant.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(AuditorGrant.id == grant.id).execute()
    assert page.goto(f"/portal/engagements/{engagement.id}").status == 404
    assert page.goto(f"/portal/evidence/{evidence.id}").status == 404
