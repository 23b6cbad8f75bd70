"""`flask demo` data (services.demo.dataset, services.demo.scale): what it promises, idempotence, sign-in,
and the scale data set."""
from __future__ import annotations

import datetime as dt
import json

import peewee as pw
import pytest
from dateutil.relativedelta import relativedelta

import evidence_store
import models
from domain.timeutil import local
from models import (
    AuditEvent,
    AuditorGrant,
    Clock,
    Engagement,
    EngagementFramework,
    Evidence,
    EvidenceFile,
    EvidenceRequest,
    Finding,
    Incident,
    Organisation,
    User,
)
from services.audit import audit_log
from services.demo import dataset as demo
from services.demo import scale as demo_scale
from services.evidence import media_types
from tests.conftest import login

DEMO_PASSWORD = "Demo-Password-2024!"
EXPECTED_USERS = {
    "admin@demobank.example": ("client_admin", "Demo Bank"),
    "risk@demobank.example": ("risk_reviewer", "Demo Bank"),
    "admin@democc.example": ("provider_admin", "Demo Contact Centre"),
    "agent@democc.example": ("provider_contributor", "Demo Contact Centre"),
    "auditor@demoassurance.example": ("auditor", "Demo Assurance"),
}


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """argon2 at production cost is most of these tests' time; the demo's logic does not depend on it."""
    from argon2 import PasswordHasher

    from services.people import accounts
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def demo_password(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    return DEMO_PASSWORD


def table_counts() -> dict[str, int]:
    return {m.__name__: m.select().count() for m in models.ALL_MODELS}


def test_demo_creates_exactly_the_promised_data(library, demo_password):
    lines = demo.create_demo()
    text = "\n".join(lines)
    assert "http://127.0.0.1:5000" in text
    for email, (role, _org) in EXPECTED_USERS.items():
        row = next(line for line in lines if email in line)
        assert role in row and DEMO_PASSWORD in row

    orgs = {o.name: o.kind for o in Organisation.select()}
    assert orgs == {"Demo Bank": "client", "Demo Contact Centre": "provider", "Demo Assurance": "audit_firm"}
    users = {u.email: (u.role, u.organisation.name) for u in User.select()}
    assert users == EXPECTED_USERS

    engagement = Engagement.get()
    assert engagement.name == "Demo Bank – Contact Centre Services"
    assert (engagement.client.name, engagement.provider.name) == ("Demo Bank", "Demo Contact Centre")
    assert engagement.place == "NSW" and engagement.card_payments and engagement.offshore
    # eighteen whole months of history: it starts on the first of the month eighteen months before today's,
    # in the engagement's local dates
    today = local(models.utcnow(), engagement.timezone).date()
    assert engagement.start_date == today.replace(day=1) - relativedelta(months=18)
    codes = {link.framework.code for link in EngagementFramework.select().where(
        EngagementFramework.engagement == engagement)}
    assert codes == set(demo.FRAMEWORKS)
    statuses = {s for (s,) in EvidenceRequest.select(EvidenceRequest.status).tuples()}
    assert {"open", "overdue", "submitted", "accepted", "rejected"} <= statuses
    # evidence in every state, each a real file in the store, so a reviewer can review at once
    evidence_states = {e.status for e in Evidence.select()}
    assert evidence_states == {"submitted", "accepted", "rejected", "withdrawn", "superseded", "expired"}
    store = evidence_store.get_store()
    for item in Evidence.select():
        assert store.rehash(item.sha256) == item.sha256
        assert media_types.resolve(media_types.sniff(store.path_for(item.sha256)), [item.media_type])
    assert {e.media_type for e in Evidence.select()} >= {"application/pdf", "image/png", "text/csv"}
    assert all(e.review_comment for e in Evidence.select().where(Evidence.status == "rejected"))
    assert "Evidence to review: " in text

    grant = AuditorGrant.get()
    assert grant.auditor.email == "auditor@demoassurance.example" and grant.engagement_id == engagement.id
    assert json.loads(grant.frameworks) == ["ISO27001-2022", "PCIDSS-4.0.1"]
    now = models.utcnow()
    assert grant.revoked_at is None
    assert abs(grant.starts_at - (now - dt.timedelta(days=1))) < dt.timedelta(minutes=5)
    assert abs(grant.expires_at - (now + dt.timedelta(days=30))) < dt.timedelta(minutes=5)

    actions = [a for (a,) in AuditEvent.select(AuditEvent.action).order_by(AuditEvent.id).tuples()]
    assert actions.count("user.create") == 5 and "engagement.create" in actions and "grant.create" in actions
    assert audit_log.verify_chain() == []


def test_demo_twice_is_idempotent(library, demo_password):
    demo.create_demo()
    before = table_counts()
    lines = demo.create_demo()
    assert table_counts() == before
    assert "already exists" in lines[0]
    assert sum(DEMO_PASSWORD in line for line in lines) == 5  # logins are printed again


def test_demo_random_passwords_are_strong_and_a_rerun_prints_new_working_ones(library, monkeypatch):
    from services.people.accounts import password_matches
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)

    def printed(lines):
        return {line.split()[0]: line.split()[-1] for line in lines if "@" in line and ".example" in line}
    first = printed(demo.create_demo())
    assert len(first) == 5 and len(set(first.values())) == 5
    assert all(len(p) >= 16 for p in first.values())
    again = printed(demo.create_demo())
    assert set(again) == set(first) and not set(again.values()) & set(first.values())
    for email, password in again.items():
        user = User.get(User.email == email)
        assert password_matches(user, password) and not password_matches(user, first[email])


def test_demo_password_env_resets_existing_demo_passwords(library, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    demo.create_demo()
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    demo.create_demo()
    from services.people.accounts import password_matches
    assert all(password_matches(u, DEMO_PASSWORD) for u in User.select())


def test_demo_users_can_sign_in(app, client, demo_password):
    demo.create_demo()
    for email in EXPECTED_USERS:
        with app.test_client() as browser:
            response = login(browser, User.get(User.email == email), DEMO_PASSWORD)
            assert response.status_code == 302, email
    assert AuditEvent.select().where(AuditEvent.action == "auth.login").count() == 5


def test_demo_needs_the_library(clean_db):
    with pytest.raises(demo.DemoError, match="load-controls"):
        demo.create_demo()
    assert Organisation.select().count() == 0


def test_demo_refuses_to_repurpose_an_existing_account(library, demo_password):
    from domain.errors import Conflict
    from services.people.accounts import create_user
    create_user("risk@demobank.example", "provider_admin", "Someone Else", DEMO_PASSWORD)
    with pytest.raises(Conflict):
        demo.create_demo()
    assert Engagement.select().count() == 0  # all or nothing


def test_scale_adds_three_years_of_consistent_history(library, demo_password):
    demo.create_demo()
    demo_evidence = Evidence.select().count()
    messages: list[str] = []
    result = demo_scale.create_scale(2, progress=messages.append)

    bank = Organisation.get(Organisation.name == "Demo Bank")
    scale = list(Engagement.select().where(Engagement.client == bank, Engagement.id.in_(result.engagement_ids)))
    assert len(scale) == 2 and Engagement.select().where(Engagement.client == bank).count() == 3
    assert len({e.provider_id for e in scale}) >= 1
    assert all(e.provider.name.startswith("Scale Provider ") for e in scale)
    assert [m for m in messages if m.startswith("engagement ")][-1].startswith("engagement 2/2")

    today = dt.date.today()
    for engagement in scale:
        requests = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement)
        first = requests.select(pw.fn.MIN(EvidenceRequest.period_start)).scalar()
        assert first <= today - relativedelta(years=3) + dt.timedelta(days=30)
        assert requests.count() > 100
        assert Incident.select().where(Incident.engagement == engagement).count() >= 3
        assert Finding.select().where(Finding.engagement == engagement).count() >= 1

    # evidence rows point at requests of their own engagement
    orphans = (Evidence.select().join(EvidenceRequest, pw.JOIN.LEFT_OUTER,
                                      on=(Evidence.request == EvidenceRequest.id))
               .where((EvidenceRequest.id.is_null()) | (EvidenceRequest.engagement != Evidence.engagement)))
    assert orphans.count() == 0
    assert Evidence.select().count() > 100
    # every item has its file row (one each: the demo's uploads and the builder's bulk rows alike)
    assert EvidenceFile.select().count() == Evidence.select().count()
    assert not Evidence.select().where(Evidence.id.not_in(EvidenceFile.select(EvidenceFile.evidence))).exists()
    assert {s for (s,) in Evidence.select(Evidence.status).distinct().tuples()} >= {"accepted", "rejected"}

    # request status agrees with its evidence
    latest: dict[int, str] = {}
    accepted: set[int] = set()
    for request_id, status in Evidence.select(Evidence.request, Evidence.status).order_by(Evidence.version).tuples():
        latest[request_id] = status
        if status in ("accepted", "expired"):
            accepted.add(request_id)
    seen = set()
    for request_id, status in (EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.status)
                               .where(EvidenceRequest.engagement.in_(result.engagement_ids)).tuples()):
        seen.add(status)
        # accepted evidence proved it; when that evidence has expired, the current period is open again
        assert (status == "accepted") == (request_id in accepted and not (status == "open"
                                                                          and latest[request_id] == "expired")), \
            request_id
        if status == "submitted":
            assert latest[request_id] == "submitted"
        if status == "rejected":
            assert latest[request_id] == "rejected"
        if status in ("open", "upcoming"):
            assert latest.get(request_id) in (None, "expired")
        if status == "overdue":
            assert latest.get(request_id) in (None, "rejected")
    assert {"accepted", "overdue", "submitted", "open"} <= seen
    # as a running scheduler leaves it: what is past its validity has expired (a first pass has nothing to do)
    assert not Evidence.select().where(Evidence.status == "accepted", Evidence.valid_until < today).exists()
    assert Evidence.select().where(Evidence.status == "expired").exists()
    # the small demo keeps its own few evidence items (with real files), whatever the scale adds
    demo_engagement = Engagement.get(Engagement.name == demo.ENGAGEMENT)
    assert Evidence.select().where(Evidence.engagement == demo_engagement).count() == demo_evidence

    # clocks are consistent
    for clock in Clock.select():
        if clock.state == "met":
            assert clock.met_at is not None and (clock.deadline_at is None or clock.met_at <= clock.deadline_at)
        elif clock.state == "breached":
            assert clock.deadline_at is not None and (clock.met_at is None or clock.met_at > clock.deadline_at)
        assert clock.started_at <= models.utcnow()

    # thousands of audit events, and the chain still verifies, also when live writes follow
    assert AuditEvent.select().where(AuditEvent.engagement.in_(result.engagement_ids)).count() > 1000
    assert AuditEvent.select().where(AuditEvent.at > models.utcnow()).count() == 0
    assert audit_log.verify_chain() == []
    audit_log.record("auth.login", actor=User.get(User.email == "risk@demobank.example"))
    assert audit_log.verify_chain() == []


def test_scale_runs_again_with_new_engagements(library, demo_password):
    demo.create_demo()
    first = demo_scale.create_scale(1)
    second = demo_scale.create_scale(1)
    names = [e.name for e in Engagement.select().where(Engagement.id.in_(first.engagement_ids + second.engagement_ids))]
    assert len(set(names)) == 2
    assert audit_log.verify_chain() == []


def test_scale_without_demo_creates_it(library, demo_password):
    result = demo_scale.create_scale(1)
    assert User.select().where(User.email == "admin@demobank.example").exists()
    assert len(result.engagement_ids) == 1


def test_demo_engagement_has_incidents_with_clocks_in_different_states_and_a_finding(app, library, demo_password):
    result = app.test_cli_runner().invoke(args=["demo"])  # the data set, then one scheduler pass
    assert result.exit_code == 0, result.output
    states = {c.state for c in Clock.select()}
    assert {"running", "met", "breached"} <= states
    assert Clock.get(Clock.rule_id == "CPS230-TOLERANCE").state == "breached"
    assert Clock.get(Clock.rule_id == "CONTRACT-NOTICE").state == "met"
    assert Clock.get(Clock.rule_id == "NDB-NOTIFY").state == "running"
    assert Finding.select().where(Finding.source == "clock").exists()
    assert Finding.select().where(Finding.source == "manual").exists()
    count = Incident.select().count()
    demo.create_demo()
    assert Incident.select().count() == count == 3


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.replace(tzinfo=dt.UTC).isoformat()


def test_scale_clocks_are_what_the_clock_service_computes_and_offshore_follows_the_register(library, demo_password):
    """Every scale incident replayed through the real services (record, the provider's notice, the NDB
    assessment) gets the very clocks the scale wrote: same rules, starts, deadlines, targets and bases."""
    from services.incidents import incidents as incident_service
    from services.register import subcontractors
    result = demo_scale.create_scale(2)
    risk = User.get(User.email == "risk@demobank.example")
    rules_seen, offshore_seen = set(), set()
    for engagement in Engagement.select().where(Engagement.id.in_(result.engagement_ids)):
        assert engagement.offshore == subcontractors.register_is_offshore(engagement)
        offshore_seen.add(engagement.offshore)
        for incident in list(Incident.select().where(Incident.engagement == engagement)):
            generated = {c.rule_id: c for c in Clock.select().where(Clock.incident == incident.id)}
            flags = [f for f in ("material", "personal_information", "card_data", "outside_tolerance",
                                 "cannot_remediate_timely", "notified_other_regulator") if getattr(incident, f)]
            data = {"title": incident.title, "category": incident.category, "aware_party": incident.aware_party,
                    "occurred_at": _iso(incident.occurred_at), "aware_at": _iso(incident.aware_at), "flags": flags}
            if incident.outside_tolerance_at:
                data["outside_tolerance_at"] = _iso(incident.outside_tolerance_at)
            replay = incident_service.create_incident(risk, engagement, data)
            notice = generated.get("CONTRACT-NOTICE")
            if notice is not None and notice.met_at is not None:
                incident_service.record_notice(risk, replay, "CONTRACT-NOTICE", {"notified_at": _iso(notice.met_at)})
            if incident.assessment_concluded_at is not None:
                incident_service.record_assessment(risk, Incident.get_by_id(replay.id), {
                    "concluded_at": _iso(incident.assessment_concluded_at),
                    "eligible": incident.assessment_eligible})
            replayed = {c.rule_id: c for c in Clock.select().where(Clock.incident == replay.id)}
            assert set(generated) == set(replayed), incident.id
            for rule, clock in generated.items():
                again = replayed[rule]
                fields = ("started_at", "deadline_at", "target_at", "basis", "calendar")
                assert [getattr(clock, f) for f in fields] == [getattr(again, f) for f in fields], (rule, incident.id)
                if clock.state == "pending":
                    assert again.state == "pending"
            assert Incident.get_by_id(replay.id).client_aware_at == incident.client_aware_at
            rules_seen |= set(generated)
    assert {"CONTRACT-NOTICE", "CPS230-TOLERANCE", "NDB-ASSESS"} <= rules_seen, rules_seen
    assert offshore_seen == {True, False}  # the odd engagement's approved offshore site makes it offshore
