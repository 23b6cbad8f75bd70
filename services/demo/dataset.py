"""The demo data set (``flask --app app demo``): ``create_demo()`` makes the client ``Demo Bank``, its provider
``Demo Contact Centre``, the audit firm ``Demo Assurance``, one user per role, one engagement in all seven
frameworks (started on the first of the month eighteen months ago, in the engagement's local dates, so it has
open, overdue and upcoming requests and eighteen whole months of results and meetings), its service provider
register, incidents with clocks, a finding, evidence to review (``services.demo.uploads``) and an active
auditor grant. Running it again changes nothing and prints the logins again. The ``demo`` command then runs
one scheduler pass, as a running system would have done (the outage's tolerance clock breaches).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Iterable

import peewee as pw
from dateutil.relativedelta import relativedelta

from domain.errors import Conflict, DomainError
from domain.timeutil import local
from models import (
    AuditorGrant,
    Engagement,
    EvidenceRequest,
    Framework,
    Incident,
    User,
    transaction,
    utcnow,
)
from services.audit import audit_log
from services.evidence import expiry
from services.incidents import incidents as incident_service
from services.incidents.findings import raise_finding
from services.people.accounts import create_user, hash_password, password_matches
from services.register import subcontractors
from services.register.engagements import create_accepted_engagement

from . import performance as demo_performance
from .governance import HISTORY_MONTHS, create_demo_governance
from .uploads import create_demo_evidence

URL = "http://127.0.0.1:5000"
CLIENT = "Demo Bank"
PROVIDER = "Demo Contact Centre"
AUDIT_FIRM = "Demo Assurance"
ENGAGEMENT = "Demo Bank – Contact Centre Services"
NDB_ASSESS = "NDB-ASSESS"  # met by the NDB assessment (services.incidents.incidents.record_assessment)
FRAMEWORKS = ("ISO27001-2022", "CPS234", "CPS230", "PRIVACY-AU", "PCIDSS-4.0.1", "ISO22301-2019", "CONTRACT")
GRANT_FRAMEWORKS = ("ISO27001-2022", "PCIDSS-4.0.1")
GRANT_DAYS = 30
TIMEZONE = "Australia/Sydney"

# e-mail, role, organisation, full name
USERS = (
    ("admin@demobank.example", "client_admin", CLIENT, "Alex Chen"),
    ("risk@demobank.example", "risk_reviewer", CLIENT, "Priya Raman"),
    ("admin@democc.example", "provider_admin", PROVIDER, "Sam O'Neill"),
    ("agent@democc.example", "provider_contributor", PROVIDER, "Jordan Lee"),
    ("auditor@demoassurance.example", "auditor", AUDIT_FIRM, "Morgan Walsh"),
)
SOURCE = {"source": "flask demo"}



class DemoError(DomainError):
    code = "demo"


# --------------------------------------------------------------------------- demo

def demo_password() -> str | None:
    return os.environ.get("DEMO_PASSWORD") or None


def require_library(codes: Iterable[str] = FRAMEWORKS) -> None:
    present = {f.code for f in Framework.select(Framework.code).where(Framework.retired_in.is_null())}
    missing = sorted(set(codes) - present)
    if missing:
        raise DemoError("the control library is not loaded (missing framework(s): " + ", ".join(missing)
                        + "); run `flask --app app load-controls` first")


def _ensure_user(email: str, role: str, org: str, full_name: str, shared: str | None) -> tuple[User, str]:
    """(user, password shown): creates the user, or checks the existing one and resets its password."""
    user = User.get_or_none(User.email == email)
    if user is None:
        password = shared or secrets.token_urlsafe(15)
        with transaction():
            user = create_user(email, role, org, password, full_name=full_name)
            audit_log.record("user.create", object_type="user", object_id=user.id,
                             details={**SOURCE, "email": email, "role": role, "organisation": org})
        return user, password
    if user.role != role or user.organisation.name != org:
        raise Conflict(f"{email} already exists as {user.role} of {user.organisation.name}, "
                       f"not {role} of {org}: the demo will not change it", field="email")
    # Only hashes are stored, so a re-run cannot show the old random password: it sets a new one,
    # and every `make run` prints logins that work.
    password = shared or secrets.token_urlsafe(15)
    if not password_matches(user, password):
        password_hash = hash_password(password)
        with transaction():
            User.update(password_hash=password_hash).where(User.id == user.id).execute()
            audit_log.record("user.password_reset", object_type="user", object_id=user.id,
                             details={**SOURCE, "email": email})
    return user, password


def demo_start(today: dt.date) -> dt.date:
    """The first day of the month ``HISTORY_MONTHS`` before ``today``'s (the engagement's local date): whole
    months, so the results and the meetings fill ``HISTORY_MONTHS`` complete months."""
    return today.replace(day=1) - relativedelta(months=HISTORY_MONTHS)


def _demo_engagement(admin: User) -> tuple[Engagement, bool]:
    existing = Engagement.get_or_none(Engagement.client == admin.organisation_id, Engagement.name == ENGAGEMENT)
    if existing is not None:
        return existing, False
    engagement = create_accepted_engagement(admin, {
        "name": ENGAGEMENT, "provider": PROVIDER, "frameworks": list(FRAMEWORKS),
        "place": "NSW", "timezone": TIMEZONE,
        "start_date": demo_start(local(utcnow(), TIMEZONE).date()).isoformat(),
        "card_payments": True, "contract_ref": "DB-CC-2025-001",
    })
    return engagement, True


def _demo_register(engagement: Engagement, provider_admin: User, client_admin: User) -> None:
    """The provider's sub-contractors: an approved offshore overflow site (which makes the engagement offshore,
    with its APP 8 reasonable-steps series), an approved onshore CCaaS platform and one awaiting the client."""
    if subcontractors.subcontractors_of(engagement).exists():
        return
    today = dt.date.today()
    site = subcontractors.propose(provider_admin, engagement.id, {
        "name": "Manila Overflow Services", "services": ["After-hours overflow calls"],
        "critical_operations": ["Customer enquiries"], "countries": ["PH"],
        "data_categories": ["Customer name", "Account number", "Call recordings"], "material": True,
        "personal_information": True, "agreement_date": (today - relativedelta(months=6)).isoformat()})
    # CPS 230 para 59(b): APRA was told before the offshoring agreement was entered
    told = today - relativedelta(months=6, days=14)
    subcontractors.record_apra_notice(client_admin, site.id, {"notified_on": told.isoformat()})
    subcontractors.decide_on(client_admin, site.id, {"decision": "approve",
                                                     "reason": "Due diligence and APP 8 contract clauses in place"})
    ccaas = subcontractors.propose(provider_admin, engagement.id, {
        "name": "CloudVoice CCaaS", "services": ["Telephony and call recording platform"],
        "critical_operations": ["Customer enquiries"], "countries": ["AU"], "data_categories": ["Call recordings"],
        "material": True, "personal_information": True,
        "agreement_date": (today - relativedelta(months=8)).isoformat()})
    subcontractors.decide_on(client_admin, ccaas.id, {"decision": "approve", "reason": "Onshore, ISO 27001 certified"})
    subcontractors.propose(provider_admin, engagement.id, {
        "name": "QA Insight Analytics", "services": ["Call quality scoring"], "countries": ["AU", "IN"],
        "data_categories": ["Call recordings"], "personal_information": True})


def _demo_grant(admin: User, auditor: User, engagement: Engagement) -> tuple[AuditorGrant, bool]:
    now = utcnow()
    active = (AuditorGrant.select()
              .where(AuditorGrant.auditor == auditor, AuditorGrant.engagement == engagement,
                     AuditorGrant.revoked_at.is_null(), AuditorGrant.starts_at <= now,
                     AuditorGrant.expires_at > now)
              .order_by(AuditorGrant.expires_at.desc()).first())
    if active is not None:
        return active, False
    with transaction():
        grant = AuditorGrant.create(auditor=auditor, engagement=engagement,
                                    frameworks=json.dumps(list(GRANT_FRAMEWORKS)), granted_by=admin,
                                    starts_at=now - dt.timedelta(days=1),
                                    expires_at=now + dt.timedelta(days=GRANT_DAYS))
        audit_log.record("grant.create", actor=admin, object_type="auditor_grant", object_id=grant.id,
                         engagement=engagement,
                         details={"auditor": auditor.email, "frameworks": list(GRANT_FRAMEWORKS),
                                  "starts_at": grant.starts_at.isoformat(), "expires_at": grant.expires_at.isoformat()})
    return grant, True


def _expire_lapsed() -> None:
    """Evidence past its validity is expired, as a running scheduler would have it (the stale exit runbook), so
    the demo's first pass has nothing to catch up."""
    for _batch in expiry.expire_evidence(utcnow()):
        pass


def create_demo() -> list[str]:
    """Create (or find) the demo data; the lines to print: URL and logins."""
    require_library()
    shared = demo_password()
    with transaction():
        logins: list[tuple[str, str, str]] = []
        users: dict[str, User] = {}
        created_users = 0
        for email, role, org, name in USERS:
            existed = User.select().where(User.email == email).exists()
            user, shown = _ensure_user(email, role, org, name, shared)
            created_users += not existed
            users[role] = user
            logins.append((email, role, shown))
        engagement, new_engagement = _demo_engagement(users["client_admin"])
        _demo_register(engagement, users["provider_admin"], users["client_admin"])
        engagement = Engagement.get_by_id(engagement.id)
        grant, new_grant = _demo_grant(users["client_admin"], users["auditor"], engagement)
        incidents = _demo_incidents(engagement, users)
    evidence_counts = create_demo_evidence(engagement, users["provider_contributor"], users["risk_reviewer"])
    demo_performance.create_performance(engagement, users)
    governance_counts = create_demo_governance(engagement, users)
    _expire_lapsed()
    created = new_engagement or created_users == len(USERS)
    counts = dict(EvidenceRequest.select(EvidenceRequest.status, pw.fn.COUNT(EvidenceRequest.id))
                  .where(EvidenceRequest.engagement == engagement)
                  .group_by(EvidenceRequest.status).tuples())
    lines = ["Demo data created." if created else
             "Demo data already exists: nothing was duplicated" + (" (auditor grant renewed)." if new_grant else ".")]
    lines += [f"Open {URL} and sign in as:", ""]
    width = max(len(e) for e, _, _ in logins)
    lines.append(f"  {'e-mail'.ljust(width)}  {'role'.ljust(20)}  password")
    lines.append(f"  {'-' * width}  {'-' * 20}  {'-' * 24}")
    lines += [f"  {email.ljust(width)}  {role.ljust(20)}  {password}" for email, role, password in logins]
    lines.append("")
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("open", "overdue", "upcoming") if counts.get(s))
    lines.append(f"Engagement #{engagement.id} {engagement.name!r}: {len(FRAMEWORKS)} frameworks, "
                 f"{sum(counts.values())} evidence requests ({summary or 'none'}).")
    if evidence_counts:
        lines.append("Evidence to review: " + ", ".join(f"{n} {s}" for s, n in sorted(evidence_counts.items())) + ".")
    if governance_counts:
        lines.append("Governance: " + ", ".join(f"{n} {what}" for what, n in governance_counts.items()) + ".")
    if incidents:
        lines.append(f"Incidents: {incidents} with their clocks (running, met, breached) and a finding.")
    lines.append(demo_performance.summary(engagement))
    lines.append(f"Auditor grant #{grant.id}: {', '.join(json.loads(grant.frameworks))}, "
                 f"until {grant.expires_at:%Y-%m-%d %H:%M} UTC.")
    if shared is None:
        lines.append("Passwords are random and reset on every run of `demo`; set DEMO_PASSWORD to choose one.")
    return lines


def _demo_incidents(engagement: Engagement, users: dict[str, User]) -> int:
    """Once per demo engagement: incidents whose clocks are running, met and breached, and a finding."""
    if Incident.select().where(Incident.engagement == engagement).exists():
        return 0
    now = utcnow().replace(microsecond=0)

    def at(hours: float) -> str:
        return (now - dt.timedelta(hours=hours)).isoformat() + "+00:00"
    provider, risk = users["provider_contributor"], users["risk_reviewer"]
    phishing = incident_service.create_incident(provider, engagement, {
        "title": "Phishing compromise of an agent mailbox", "category": "security_incident",
        "occurred_at": at(12), "aware_at": at(10), "aware_party": "provider", "flags": ["material"],
        "description": "Found by the provider's SOC; customer e-mails in the mailbox."}, now=now)
    incident_service.record_notice(provider, phishing, "CONTRACT-NOTICE", {"notified_at": at(8)}, now=now)
    incident_service.create_incident(risk, engagement, {
        "title": "Telephony platform outage", "category": "operational_disruption", "occurred_at": at(40),
        "aware_at": at(39), "aware_party": "client", "flags": ["outside_tolerance", "material"],
        "outside_tolerance_at": at(36)}, now=now)
    breach = incident_service.create_incident(risk, engagement, {
        "title": "Customer statement e-mailed to the wrong customer", "category": "personal_information_breach",
        "occurred_at": at(30), "aware_at": at(28), "aware_party": "client", "flags": ["personal_information"]},
        now=now)
    incident_service.record_assessment(risk, breach, {"concluded_at": at(4), "eligible": True,
                                                      "summary": "Likely serious harm: financial details."}, now=now)
    raise_finding(engagement, source="manual", title="Quarterly access review not evidenced for Q3",
                  severity="medium", owner=users["provider_admin"], raised_by=risk, due_date=(now + dt.timedelta(
                      days=14)).date(), description="Raised at the quarterly service review.")
    return 3
