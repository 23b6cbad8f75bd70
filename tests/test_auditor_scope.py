"""Nothing shown to an auditor names a framework outside its grant (SPEC §1: an auditor sees
nothing except through its grant). An engagement holds all ten frameworks, incidents whose clocks belong to
several of them, findings of breached clocks, a register with sub-contractor clocks and packs; an auditor
granted two frameworks walks every page, API route, export and download it can reach (following the links
of each page, every GET route of the app with every id of the world, and the filters with each hidden code),
and no response names any code, title or clock rule of the eight others, nor the names and paragraph
references people write for them ("CPS 234 32-34", "PCI 7.2.5.1", "ISO 27001", "Visa"), while the granted ones
are there."""
from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections import Counter, deque
from urllib.parse import urljoin, urlsplit

import pytest
from pypdf import PdfReader

from models import (
    AuditorGrant,
    ChangeRequest,
    Clock,
    ClockRule,
    Control,
    ControlObligation,
    Engagement,
    Evidence,
    EvidenceFile,
    EvidenceRequest,
    Finding,
    Forum,
    Framework,
    Incident,
    Kpi,
    Meeting,
    Notification,
    Obligation,
    Organisation,
    Pack,
    PerformanceReport,
    Subcontractor,
    utcnow,
)
from services.alerts import scheduler
from services.auditors import packs
from services.incidents import incidents as incident_service
from services.incidents.clocks import OPTIONAL_SETTINGS
from services.incidents.findings import raise_finding
from services.register import subcontractors as provider_register
from services.register.engagements import create_accepted_engagement, update_engagement
from tests.conftest import bearer, login
from tests.fixtures.rights import make_grant

GRANTED = ("CPS230", "PRIVACY-AU")
MAX_PAGES = 3000
QUERY_VARIANTS = 12  # links followed per path with different query strings
SAMPLE = 20  # evidence items the auditor sees, and as many it does not


# How the library's texts name each framework besides its code and title: names, paragraph references,
# regulators, assessors and brands (the examples the library's descriptions and requirement names hold).
PHRASES = {
    "CPS234": ("CPS 234", "CPS 234 32-34", "Prudential Standard CPS 234"),
    "CPS230": ("CPS 230",),
    "PRIVACY-AU": ("APP 8.2", "APP 8", "OAIC", "NDB", "s26WH", "Notifiable data breach", "Privacy Act"),
    "PCIDSS-4.0.1": ("PCI DSS", "PCI 7.2.5.1", "PCI's", "Visa", "Mastercard", "QSA", "ASV", "PCI AOC",
                     "cardholder data"),
    "ISO27001-2022": ("ISO 27001", "ISO/IEC 27001", "Annex A"),
    "ISO22301-2019": ("ISO 22301",),
}


def iso(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=dt.UTC).isoformat()


def forbidden_strings(granted: tuple[str, ...]) -> dict[str, str]:
    """Every name of a framework outside the grant, from the library: its code (and the code without its
    version, e.g. ``PCIDSS``), its title, and the ids and titles of its clock rules. -> {string: framework}."""
    out: dict[str, str] = {}
    for fw in Framework.select().where(Framework.code.not_in(list(granted))):
        out[fw.code] = fw.code
        out[fw.title] = fw.code
        stem = re.split(r"-\d", fw.code)[0]
        if len(stem) >= 5:
            out[stem] = fw.code
    for rule in ClockRule.select().where(ClockRule.framework_code.not_in(list(granted))):
        out[rule.rule_id] = rule.framework_code
        out[rule.title] = rule.framework_code
    for code, phrases in PHRASES.items():  # their names and paragraph references as people write them
        if code not in granted:
            out.update({phrase: code for phrase in phrases})
    granted_names = [f.code for f in Framework.select().where(Framework.code.in_(list(granted)))]
    granted_names += [r.rule_id for r in ClockRule.select().where(ClockRule.framework_code.in_(list(granted)))]
    # a hidden name that is part of a granted one (none today) would make the check meaningless
    assert not any(name in g for name in out for g in granted_names), "a hidden name is part of a granted one"
    return out


@pytest.fixture
def world(app, make_user, store):
    admin, reviewer = make_user("client_admin"), make_user("risk_reviewer")
    provider_admin, contributor = make_user("provider_admin"), make_user("provider_contributor")
    auditor = make_user("auditor")
    every = [f.code for f in Framework.select().where(Framework.retired_in.is_null())]
    assert len(every) == 10  # the seven of SPEC §2, the card brands' rules and the two optional regimes' Acts
    regimes = {f.code: f.requires for f in Framework.select().where(Framework.requires.in_(list(OPTIONAL_SETTINGS)))}
    engagement = create_accepted_engagement(admin, {
        "name": "Every framework", "provider": "BPO A", "place": "NSW", "timezone": "Australia/Sydney",
        "frameworks": [c for c in every if c not in regimes], "start_date": "2025-07-01", "card_payments": True})
    # the optional regimes' frameworks come into scope once their settings are on
    incident_service.update_clock_settings(admin, engagement, dict.fromkeys(regimes.values(), True))
    engagement = update_engagement(admin, engagement.id, {"frameworks": every})
    other = create_accepted_engagement(admin, {"name": "Not granted", "provider": "BPO A", "place": "NSW",
                                      "timezone": "Australia/Sydney", "frameworks": ["PCIDSS-4.0.1"],
                                      "start_date": "2025-07-01", "card_payments": True})
    now = utcnow()
    _accept_one_per_control(engagement, store, contributor, reviewer, now)
    _incidents(engagement, reviewer, contributor, now)
    _register(engagement, provider_admin, admin, now)
    raise_finding(engagement, source="manual", title="Access reviews late", raised_by=reviewer)
    make_grant(auditor, engagement, list(GRANTED))
    scheduler.tick(now)  # breaches the overdue clocks: findings and notifications of several frameworks
    # packs: the client's of every framework (never the auditor's to see) and the auditor's of its grant
    # up to today: a pack whose period ends in the future is refused
    period = {"period_start": "2025-07-01", "period_end": now.date().isoformat()}
    packs.request_pack(admin, engagement.id, {"frameworks": every, **period})
    packs.request_pack(auditor, engagement.id, {"frameworks": list(GRANTED), **period})
    built = packs.run_pending(app.config["EVIDENCE_STORE"], worker="test")
    assert [p.status for p in built] == ["ready", "ready"], [p.error for p in built]
    return {"admin": admin, "reviewer": reviewer, "auditor": auditor, "engagement": engagement, "other": other,
            "forbidden": forbidden_strings(GRANTED)}


def _accept_one_per_control(engagement, store, uploader, reviewer, now) -> None:
    """One accepted evidence item on the first request of every control, so that evidence of granted and
    hidden controls alike exists."""
    seen: set[int] = set()
    rows = []
    for request in (EvidenceRequest.select().where(EvidenceRequest.engagement == engagement)
                    .order_by(EvidenceRequest.period_start, EvidenceRequest.id)):
        if request.control_id in seen:
            continue
        seen.add(request.control_id)
        stored = store.put(io.BytesIO(f"evidence of control {request.control_id}".encode()))
        rows.append({"request": request.id, "engagement": engagement.id, "sha256": stored.sha256,
                     "original_filename": f"control-{request.control_id}.txt", "media_type": "text/plain",
                     "size": stored.size, "effective_date": request.period_start, "version": 1,
                     "status": "accepted", "uploaded_by": uploader.id, "uploaded_at": now - dt.timedelta(days=2),
                     "reviewed_by": reviewer.id, "reviewed_at": now - dt.timedelta(days=1),
                     "review_comment": "Accepted."})
    Evidence.insert_many(rows).execute()
    EvidenceFile.insert_many([{"evidence": e.id, "position": 1, "sha256": e.sha256, "size": e.size,
                               "media_type": e.media_type, "original_filename": e.original_filename,
                               "storage_key": e.sha256}
                              for e in Evidence.select().where(Evidence.engagement == engagement)]).execute()
    EvidenceRequest.update(status="accepted").where(EvidenceRequest.id.in_([r["request"] for r in rows])).execute()


def _incidents(engagement, reviewer, contributor, now) -> None:
    """Incidents whose clocks belong to CPS 234, CPS 230, the Privacy Act, PCI DSS and the contract."""
    days = dt.timedelta(days=1)
    breach = incident_service.create_incident(reviewer, engagement, {
        "title": "Call recordings exposed", "category": "personal_information_breach", "aware_party": "client",
        "occurred_at": iso(now - 6 * days), "aware_at": iso(now - 5 * days),
        "flags": ["material", "personal_information", "card_data", "notified_other_regulator"]})
    incident_service.record_assessment(reviewer, breach, {"concluded_at": iso(now - 4 * days), "eligible": True,
                                                          "summary": "Likely serious harm."})
    incident_service.create_incident(contributor, engagement, {
        "title": "Telephony outage", "category": "operational_disruption", "aware_party": "provider",
        "occurred_at": iso(now - 3 * days), "aware_at": iso(now - 3 * days),
        "flags": ["material", "outside_tolerance"], "outside_tolerance_at": iso(now - 3 * days)})
    incident_service.create_incident(reviewer, engagement, {
        "title": "MFA gap on admin consoles", "category": "control_weakness", "aware_party": "client",
        "occurred_at": iso(now - 30 * days), "aware_at": iso(now - 30 * days),
        "flags": ["cannot_remediate_timely"]})
    incident_service.create_incident(reviewer, engagement, {
        "title": "Ransomware on the dialler", "category": "security_incident", "aware_party": "client",
        "occurred_at": iso(now - 2 * days), "aware_at": iso(now - 2 * days),
        "flags": ["soci_relevant", "ransom_paid"]})
    rules = {c.rule_id for c in Clock.select(Clock.rule_id).where(Clock.engagement == engagement)}
    frameworks = {r.framework_code for r in ClockRule.select().where(ClockRule.rule_id.in_(list(rules)))}
    # PCI-BRAND is the card brands' rules now (PCI DSS 12.10.1 sets no time); the ASD reports are SOCI and CSA-2024
    assert {"CPS234", "CPS230", "PRIVACY-AU", "CARD-BRANDS", "CONTRACT", "SOCI", "CSA-2024"} <= frameworks, rules


def _register(engagement, provider_admin, admin, now) -> None:
    """A material offshore sub-contractor, approved: CONTRACT-SUBCON and CPS230-ARRANGEMENT clocks."""
    sub = provider_register.propose(provider_admin, engagement.id, {
        "name": "Manila overflow", "services": ["Overflow calls"], "countries": ["PH"], "material": True,
        "personal_information": True, "data_categories": ["names"]})
    # CPS 230 para 59(b): APRA told before the offshoring agreement is entered
    told, agreed = (now - 60 * dt.timedelta(days=1)).date(), (now - 30 * dt.timedelta(days=1)).date()
    provider_register.record_apra_notice(admin, sub.id, {"notified_on": told.isoformat()})
    provider_register.decide_on(admin, sub.id, {"decision": "approve", "reason": "Due diligence done.",
                                                "agreement_date": agreed.isoformat()})


# ---------------------------------------------------------------- reading responses

def body_text(response) -> str:
    """What a response shows: its text, or the cells of a workbook, or the text and attachments of a PDF."""
    data = response.data
    if data.startswith(b"%PDF"):
        reader = PdfReader(io.BytesIO(data))
        parts = [page.extract_text() for page in reader.pages]
        parts += [blob.decode("utf-8", "replace") for blobs in reader.attachments.values() for blob in blobs]
        return "\n".join(parts) + "\n" + " ".join("".join(parts).split())
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return "\n".join(book.read(n).decode("utf-8", "replace") for n in book.namelist() if n.endswith(".xml"))
    return response.get_data(as_text=True)


def leaks(text: str, forbidden: dict[str, str]) -> list[str]:
    return [name for name in forbidden if name in text]


LINK = re.compile(r'(?:href|action|src)="([^"#]+)')


def links_of(url: str, html: str) -> list[str]:
    out = []
    for raw in LINK.findall(html):
        target = urljoin(url, raw.replace("&amp;", "&"))
        parts = urlsplit(target)
        if parts.netloc not in ("", "localhost") or parts.path.startswith("/static") or parts.path == "/logout":
            continue
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def world_ids(world) -> dict[str, list]:
    """Every id of the world a route can take (the auditor's and the hidden ones alike)."""
    engagement = world["engagement"]
    requests = list(EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.control)
                    .where(EvidenceRequest.engagement == engagement).order_by(EvidenceRequest.id))
    first_per_control = list({r.control_id: r.id for r in reversed(requests)}.values())
    from services import scope
    visible = {e.id for e in scope.evidence_of(world["auditor"], engagement)}
    every = [e.id for e in Evidence.select(Evidence.id).order_by(Evidence.id)]
    evidence = [i for i in every if i in visible][:SAMPLE] + [i for i in every if i not in visible][:SAMPLE]
    return {
        "engagement_id": [engagement.id, world["other"].id],
        "incident_id": [i.id for i in Incident.select()],
        "finding_id": [f.id for f in Finding.select()],
        "evidence_id": evidence,
        # files of two visible and two hidden items, under every item's id (a hidden item's file under a visible
        # item's id too)
        "file_id": [f.id for f in EvidenceFile.select(EvidenceFile.id).where(
            EvidenceFile.evidence.in_(evidence[:2] + evidence[SAMPLE:SAMPLE + 2]))],
        "request_id": first_per_control,
        "pack_id": [p.id for p in Pack.select()],
        "grant_id": [g.id for g in AuditorGrant.select()],
        "subcontractor_id": [s.id for s in Subcontractor.select()],
        "notification_id": [n.id for n in Notification.select()],
        "code": [c.code for c in Control.select()] + [f.code for f in Framework.select()],
        "fmt": ["csv", "xlsx", "pdf"],
        "rule": [r.rule_id for r in ClockRule.select()],
        "user_id": [world["auditor"].id, world["admin"].id], "token_id": [1], "secret": ["not-an-invitation"],
        "webhook_id": [1], "feed_id": [1], "group_id": [1], "key": ["User"], "anything": ["Users"],
        "organisation_id": [o.id for o in Organisation.select()], "slug": ["bank"],
        **{name: [row.id for row in model.select()] or [1]
           for name, model in (("forum_id", Forum), ("meeting_id", Meeting), ("change_request_id", ChangeRequest),
                               ("kpi_id", Kpi), ("report_id", PerformanceReport))},
    }


def route_urls(app, world, *, api: bool) -> list[str]:
    """Every GET route of the app (pages or API) with every value of its arguments."""
    ids = world_ids(world)
    urls = []
    from web.api import PUBLIC_ENDPOINTS  # served to anyone, signed in or not (the OpenAPI description)
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("static", *PUBLIC_ENDPOINTS) \
                or rule.rule.startswith("/api/") != api:
            continue
        combos = [{}]
        for arg in rule.arguments:
            combos = [{**c, arg: v} for c in combos for v in ids[arg]]
        for combo in combos:
            with app.test_request_context():
                from flask import url_for
                try:
                    urls.append(url_for(rule.endpoint, **combo))
                except ValueError:  # a value the route's converter does not take (fmt: pdf|xlsx only)
                    continue
    return urls


def probes(world) -> list[str]:
    """Filters and look-ups given a hidden framework's code: they must answer as if it did not exist."""
    engagement = world["engagement"].id
    out = []
    for code in sorted({f for f in world["forbidden"].values()}):
        out += [f"/engagements/{engagement}/requests?framework={code}", f"/dashboard?framework={code}",
                f"/review?framework={code}", f"/coverage?framework={code}",
                f"/api/v1/engagements/{engagement}/requests?framework={code}",
                f"/api/v1/dashboard/overdue?framework={code}"]
    return out


def check(response, url: str, forbidden: dict[str, str], seen: list[str], problems: list) -> None:
    """Record (url, status, hidden names shown, their context) when a response names a hidden framework."""
    text = body_text(response) if response.status_code < 500 else ""
    probed = {name for name in forbidden if name in url}  # a value the auditor typed may be echoed back
    found = [name for name in leaks(text, forbidden) if name not in probed]
    if found or response.status_code >= 500:
        problems.append((url, response.status_code, found, _context(text, found[0]) if found else ""))
    seen.append(text)


def _context(text: str, name: str) -> str:
    at = text.index(name)
    return text[max(0, at - 200):at + 200]


def test_no_page_export_or_download_names_a_framework_outside_the_grant(app, world):
    browser = app.test_client()
    assert login(browser, world["auditor"]).status_code == 302
    forbidden, seen, problems = world["forbidden"], [], []
    queue = deque(["/", "/portal", *route_urls(app, world, api=False), *probes(world)])
    visited: set[str] = set()
    variants: Counter = Counter()  # links with a query string, per path: filters, sorts, pages
    while queue and len(visited) < MAX_PAGES:
        url = queue.popleft()
        if url in visited:
            continue
        visited.add(url)
        response = browser.get(url)
        check(response, url, forbidden, seen, problems)
        if response.status_code == 200 and response.mimetype == "text/html":
            for link in links_of(url, response.get_data(as_text=True)):
                path, _, query = link.partition("?")
                if link in visited or (query and variants[path] >= QUERY_VARIANTS):
                    continue
                variants[path] += bool(query)
                queue.append(link)
    assert not queue, f"more than {MAX_PAGES} pages"
    assert not problems, f"{len(problems)} responses name hidden frameworks: {problems[:20]}"
    shown = "\n".join(seen)
    for name in (*GRANTED, "CPS230-INCIDENT", "CPS230-TOLERANCE", "NDB-ASSESS", "NDB-NOTIFY"):
        assert name in shown, name
    auditor_pack = Pack.get(Pack.requested_by == world["auditor"])
    assert f"/packs/{auditor_pack.id}/download" in visited


def test_no_api_route_names_a_framework_outside_the_grant(app, client, world):
    headers = bearer(world["auditor"])
    forbidden, seen, problems = world["forbidden"], [], []
    for url in [*route_urls(app, world, api=True), *probes(world)]:
        response = client.get(url, headers=headers)
        check(response, url, forbidden, seen, problems)
        body = response.get_json(silent=True) or {}
        if isinstance(body, dict) and body.get("pages", 1) > 1:  # every page of a list
            for page in range(2, body["pages"] + 1):
                sep = "&" if "?" in url else "?"
                check(client.get(f"{url}{sep}page={page}", headers=headers), url, forbidden, seen, problems)
    assert not problems, f"{len(problems)} responses name hidden frameworks: {problems[:20]}"
    shown = "\n".join(seen)
    for name in (*GRANTED, "CPS230-INCIDENT", "NDB-NOTIFY"):
        assert name in shown, name


def test_the_client_still_sees_every_framework(app, client, world):
    """The same routes show the client everything (the filtering is the auditor's only)."""
    headers = bearer(world["admin"])
    engagement = world["engagement"].id
    incidents = client.get(f"/api/v1/engagements/{engagement}/incidents", headers=headers).get_json()
    rules = {c["rule"] for i in incidents["items"] for c in i["clocks"]}
    assert {"CPS234-35", "PCI-BRAND", "CONTRACT-NOTICE", "NDB-NOTIFY"} <= rules
    findings = client.get(f"/api/v1/engagements/{engagement}/findings", headers=headers).get_json()
    auditor_findings = client.get(f"/api/v1/engagements/{engagement}/findings",
                                  headers=bearer(world["auditor"])).get_json()
    assert 0 < auditor_findings["total"] < findings["total"]


def test_findings_are_scoped_the_same_way_everywhere(world):
    """``services.incidents.findings.findings_for`` (the findings pages and API) follows ``scope.findings_for``."""
    from services import scope
    from services.incidents import findings as finding_service
    auditor, engagement = world["auditor"], world["engagement"]
    scoped = {f.id for f in scope.findings_for(auditor, engagement)}
    assert {f.id for f in finding_service.findings_for(auditor, engagement)} == scoped
    assert {f.id for f in finding_service.findings_for(auditor)} == scoped
    hidden = {f.id for f in Finding.select()} - scoped
    assert hidden
    for finding_id in hidden:
        with pytest.raises(Exception) as raised:
            finding_service.finding_for(auditor, finding_id)
        assert getattr(raised.value, "status", None) == 404


def test_a_control_of_hidden_frameworks_only_is_not_found(app, world):
    browser = app.test_client()
    assert login(browser, world["auditor"]).status_code == 302
    visible = set(ControlObligation.select(ControlObligation.control).join(Obligation).join(Framework)
                  .where(Framework.code.in_(list(GRANTED))).tuples().scalars())
    hidden = Control.select().where(Control.id.not_in(list(visible))).first()
    assert browser.get(f"/controls/{hidden.code}").status_code == 404
    assert browser.get(f"/library/{'PCIDSS-4.0.1'}").status_code == 404
    assert browser.get(f"/library/{GRANTED[0]}").status_code == 200
    assert Engagement.get_by_id(world["engagement"].id)
