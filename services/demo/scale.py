"""The scale data set for benchmarks (``flask --app app demo --scale N``).

``create_scale(n)`` adds ``n`` engagements of Demo Bank with further providers and three years of history
each: evidence requests (from the real register generator), evidence *metadata* rows (no files: benchmark
data only), incidents with their clocks, findings and audit events. Rows are bulk-inserted in batches; the
audit events are chained with the same hash function as ``services.audit.audit_log`` so ``verify-audit-log``
still passes. Without the demo data set it creates that first (``services.demo.dataset``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import peewee as pw
from dateutil.relativedelta import relativedelta

from domain import subcontractors as subcontractor_rules
from domain.clocks import (
    CONTRACT_NOTICE,
    FROM_ASSESSMENT,
    IncidentFacts,
    Rule,
    client_aware_at,
    rules_started,
    start_instant,
    state_after_notice,
)
from domain.timeutil import to_utc_naive
from models import (
    Clock,
    Engagement,
    EngagementFramework,
    Evidence,
    EvidenceFile,
    EvidenceRequest,
    EvidenceRequirement,
    Finding,
    Framework,
    Incident,
    Organisation,
    Subcontractor,
    User,
    transaction,
    utcnow,
)
from models.incidents import INCIDENT_FLAGS
from services.audit import audit_log
from services.incidents import clocks
from services.people.accounts import find_or_create_organisation, hash_password
from services.register import subcontractors
from services.register.engagements import generate_register

from .dataset import CLIENT, FRAMEWORKS, NDB_ASSESS, SOURCE, create_demo, demo_password, require_library
from .performance import scale_performance

BATCH = 500
SCALE_PREFIX = "Scale Engagement "
UNUSABLE_PASSWORD = "!no-login: demo scale user (set DEMO_PASSWORD to sign in)"
PLACES = (("NSW", "Australia/Sydney"), ("VIC", "Australia/Melbourne"), ("QLD", "Australia/Brisbane"),
          ("WA", "Australia/Perth"), ("SA", "Australia/Adelaide"))


@dataclass
class ScaleResult:
    engagement_ids: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0


REJECT_COMMENTS = (
    "Screenshot does not show the date or the system it was taken from.",
    "Report covers the wrong period.",
    "Not signed off by the control owner.",
    "Sample list is incomplete: 3 of 25 items missing.",
    "File is the template, not the completed record.",
    "Scope excludes the offshore site.",
)
INCIDENT_TITLES = {
    "security_incident": ("Phishing compromise of an agent mailbox", "Malware on a team-leader workstation",
                          "Unauthorised access to the CRM by a former agent",
                          "Credential stuffing against the agent portal"),
    "personal_information_breach": ("Customer statement e-mailed to the wrong customer",
                                    "Call recordings exposed on a shared drive",
                                    "Agent photographed customer records"),
    "control_weakness": ("Quarterly access review not performed", "Patch backlog on call-recording servers",
                         "Leaver accounts still active after 30 days"),
    "operational_disruption": ("Telephony platform outage", "Site evacuation: fire alarm",
                               "Workforce-management system unavailable", "Flooding at the secondary site"),
    "card_data_compromise": ("Card numbers captured in call recordings (pause-and-resume failed)",
                             "Card data written on paper at an agent desk"),
}
CATEGORY_WEIGHTS = (("security_incident", 3), ("personal_information_breach", 3), ("control_weakness", 2),
                    ("operational_disruption", 3), ("card_data_compromise", 1))
MEDIA_EXT = {"application/pdf": ".pdf", "text/csv": ".csv", "image/png": ".png", "image/jpeg": ".jpg",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheetml.sheet": ".xlsx",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
             "text/plain": ".txt", "application/json": ".json", "application/zip": ".zip"}


class _Events:
    """Audit events of one engagement, collected, then chained and inserted in time order."""

    def __init__(self, engagement_id: int, latest: dt.datetime):
        self.engagement_id = engagement_id
        self.latest = latest  # nothing happens after "now"
        self.rows: list[dict[str, Any]] = []

    def add(self, at: dt.datetime, action: str, actor: User | None, object_type: str, object_id: Any,
            details: dict | None = None, ip: str = "") -> None:
        self.rows.append(audit_log.event_row(action, actor=actor, object_type=object_type, object_id=object_id,
                                             engagement=self.engagement_id, ip=ip, details=details,
                                             at=min(at, self.latest)))


def append_chained(rows: list[dict[str, Any]], batch: int = BATCH) -> int:
    """Bulk-append audit events to the chain (``services.audit.audit_log.append``), a batch per insert."""
    for start in range(0, len(rows), batch):
        audit_log.append(rows[start:start + batch])
    return len(rows)


def _insert(model: type[pw.Model], rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), BATCH):
        model.insert_many(rows[i:i + BATCH]).execute()


def _between(rng: random.Random, lo: dt.datetime, hi: dt.datetime) -> dt.datetime:
    if hi <= lo:
        return lo
    span = (hi - lo).total_seconds()
    return lo + dt.timedelta(seconds=rng.uniform(0, span))


class _Scaler:
    """Builds one scale engagement's history."""

    def __init__(self, number: int, client: Organisation, admin: User | None, risk: User, auditor: User | None,
                 now: dt.datetime, shared_password_hash: str):
        self.number = number
        self.admin = admin
        self.client = client
        self.risk = risk
        self.auditor = auditor
        self.now = now
        self.rng = random.Random(f"attest-scale-{number}")
        self.shared_password_hash = shared_password_hash
        self.counts: dict[str, int] = defaultdict(int)

    # -- engagement ------------------------------------------------------
    def provider_number(self) -> int:
        return self.number - self.number // 3  # every third engagement shares the previous one's provider

    def provider_user(self, provider: Organisation) -> User:
        email = f"contributor@scale-provider-{self.provider_number():03d}.example"
        user = User.get_or_none(User.email == email)
        if user is None:
            user = User.create(email=email, role="provider_contributor", organisation=provider,
                               full_name=f"Contributor {self.provider_number():03d}",
                               password_hash=self.shared_password_hash, created_at=self.now)
        return user

    def create_engagement(self) -> Engagement:
        rng, k = self.rng, self.number
        provider = find_or_create_organisation(f"Scale Provider {self.provider_number():03d}", "provider")
        self.contributor = self.provider_user(provider)
        card = k % 3 != 0
        codes = [c for c in FRAMEWORKS if card or c != "PCIDSS-4.0.1"]
        place, tz = PLACES[(k - 1) % len(PLACES)]
        self.today = self.now.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).date()
        start = self.today - relativedelta(years=3) - dt.timedelta(days=rng.randint(0, 20))
        engagement = Engagement.create(
            client=self.client, provider=provider,
            name=f"{SCALE_PREFIX}{k:04d} – Scale Provider {self.provider_number():03d}",
            contract_ref=f"SC-{k:04d}", start_date=start, place=place, timezone=tz, card_payments=card,
            offshore=False, created_by=self.admin,  # offshore follows from the register (``register``)
            created_at=to_utc_naive(dt.datetime.combine(start, dt.time(9), tzinfo=ZoneInfo(tz))))
        frameworks = list(Framework.select().where(Framework.code.in_(codes)))
        EngagementFramework.insert_many([{"engagement": engagement, "framework": f} for f in frameworks]).execute()
        self.codes = set(codes)  # its Statement of Applicability follows the register (``register``)
        self.engagement = engagement
        self.rules = {rule.rule_id: rule for rule in clocks.live_rules()}
        self.settings = clocks.settings(engagement)
        self.events = _Events(engagement.id, self.now - dt.timedelta(seconds=1))
        self.events.add(engagement.created_at, "engagement.create", self.admin, "engagement", engagement.id,
                        {**SOURCE, "name": engagement.name, "provider": provider.name, "frameworks": codes})
        return engagement

    # -- evidence --------------------------------------------------------
    def evidence(self) -> None:
        rng, now, e = self.rng, self.now, self.engagement
        reqs = {r.id: r for r in EvidenceRequirement.select(EvidenceRequirement.id, EvidenceRequirement.key,
                                                              EvidenceRequirement.accepted_types,
                                                              EvidenceRequirement.validity_days)}
        rows = list(EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.requirement,
                                           EvidenceRequest.period_start, EvidenceRequest.period_end,
                                           EvidenceRequest.due_at, EvidenceRequest.status)
                    .where(EvidenceRequest.engagement == e).order_by(EvidenceRequest.id).tuples())
        # as a running scheduler would have left it (services.evidence.expiry): accepted evidence past its
        # validity is expired, and the requirement's current request it proved is open again
        today = now.date()
        current: dict[int, dt.date] = {}
        for _id, requirement_id, p_start, *_rest in rows:
            if p_start <= today and p_start > current.get(requirement_id, dt.date.min):
                current[requirement_id] = p_start
        evidence: list[dict[str, Any]] = []
        new_status: dict[str, list[int]] = defaultdict(list)
        self.history: dict[int, tuple[str, list[dict]]] = {}  # request id -> (final status, its evidence)
        self.counts["requests"] = 0
        for request_id, requirement_id, p_start, p_end, due_at, status in rows:
            self.counts["requests"] += 1
            if status == "upcoming":
                continue
            r = rng.random()
            past_grace = status == "overdue"
            if past_grace:
                outcome = "accepted" if r < 0.84 else "rejected" if r < 0.89 else "submitted" if r < 0.92 else None
            else:
                outcome = "accepted" if r < 0.25 else "submitted" if r < 0.45 else "rejected" if r < 0.50 else None
            if outcome is None:
                continue
            requirement = reqs[requirement_id]
            versions = ["rejected"] if rng.random() < (0.12 if outcome == "accepted" else 0.3) else []
            if outcome != "rejected" and rng.random() < 0.05:
                versions.append("superseded")
            versions.append(outcome)
            late = rng.random() < 0.12
            lo = max(dt.datetime.combine(p_start, dt.time(8)),
                     dt.datetime.combine(p_end, dt.time(8)) - dt.timedelta(days=25))
            hi = min(due_at + (dt.timedelta(days=rng.randint(1, 40)) if late or past_grace and outcome != "accepted"
                               else dt.timedelta(0)), now - dt.timedelta(hours=1))
            if lo > hi:  # the current period: evidence arrives between its start and now
                lo = max(dt.datetime.combine(p_start, dt.time(0)), hi - dt.timedelta(days=20))
            lo = min(lo, hi)
            items = []
            cursor = lo
            types = json.loads(requirement.accepted_types) or ["application/pdf"]
            for version, state in enumerate(versions, start=1):
                uploaded = _between(rng, cursor, cursor + (hi - cursor) * 0.6)
                uploaded = min(uploaded, now - dt.timedelta(minutes=30))
                effective = max(p_start, (uploaded - dt.timedelta(days=rng.randint(0, 5))).date())
                effective = min(effective, uploaded.date())
                media = types[rng.randrange(len(types))]
                reviewed = None
                if state in ("accepted", "rejected"):
                    reviewed = min(uploaded + dt.timedelta(hours=rng.uniform(2, 120)), now - dt.timedelta(minutes=5))
                content = f"attest-scale/{e.id}/{request_id}/{version}".encode()
                item = {
                    "request": request_id, "engagement": e.id, "sha256": hashlib.sha256(content).hexdigest(),
                    "original_filename": f"{requirement.key}-{p_start:%Y%m%d}-v{version}{MEDIA_EXT.get(media, '.bin')}",
                    "media_type": media, "size": rng.randint(8_000, 4_000_000), "effective_date": effective,
                    "valid_until": effective + dt.timedelta(days=requirement.validity_days or 365),
                    "note": "", "version": version, "status": state, "uploaded_by": self.contributor.id,
                    "uploaded_at": uploaded, "reviewed_by": self.risk.id if reviewed else None,
                    "reviewed_at": reviewed,
                    "review_comment": rng.choice(REJECT_COMMENTS) if state == "rejected" else
                                      ("Accepted." if state == "accepted" else ""),
                    "withdrawn_at": None}
                if state == "accepted" and item["valid_until"] < today:
                    item["status"] = "expired"
                items.append(item)
                cursor = reviewed or uploaded
            evidence += items
            final = "overdue" if outcome == "rejected" and past_grace else outcome
            if items[-1]["status"] == "expired" and current.get(requirement_id) == p_start:
                final = "open"
            self.history[request_id] = (final, items)
            if final != status:
                new_status[final].append(request_id)
        _insert(Evidence, evidence)
        for state, ids in new_status.items():
            for i in range(0, len(ids), BATCH):
                (EvidenceRequest.update(status=state, updated_at=now)
                 .where(EvidenceRequest.id.in_(ids[i:i + BATCH])).execute())
        ids = {(req, ver): eid for eid, req, ver in
               Evidence.select(Evidence.id, Evidence.request, Evidence.version)
               .where(Evidence.engagement == e).tuples()}
        _insert(EvidenceFile, [{"evidence": ids[(item["request"], item["version"])], "position": 1,
                                "sha256": item["sha256"], "size": item["size"], "media_type": item["media_type"],
                                "original_filename": item["original_filename"], "storage_key": item["sha256"]}
                               for item in evidence])
        ev = self.events
        for item in evidence:
            eid = ids[(item["request"], item["version"])]
            ev.add(item["uploaded_at"], "evidence.upload", self.contributor, "evidence", eid,
                   {"request_id": item["request"], "sha256": item["sha256"], "version": item["version"],
                    "size": item["size"], "filename": item["original_filename"]}, ip=self._ip("provider"))
            if item["reviewed_at"]:
                decision = "reject" if item["status"] == "rejected" else "accept"
                ev.add(item["reviewed_at"], "evidence.review", self.risk, "evidence", eid,
                       {"decision": decision, "comment": item["review_comment"]}, ip=self._ip("client"))
            if item["status"] == "expired":
                ev.add(dt.datetime.combine(item["valid_until"] + dt.timedelta(days=1), dt.time(0, 5)),
                       "evidence.expire", None, "evidence", eid,
                       {"request_id": item["request"], "valid_until": item["valid_until"].isoformat()})
                if decision == "accept" and self.rng.random() < 0.1:
                    ev.add(item["reviewed_at"] + dt.timedelta(minutes=self.rng.randint(1, 600)), "evidence.download",
                           self.risk, "evidence", eid, {"sha256": item["sha256"]}, ip=self._ip("client"))
        self.counts["evidence"] = len(evidence)

    def _ip(self, side: str) -> str:
        return (f"10.20.{self.number % 250}.{self.rng.randint(2, 250)}" if side == "provider"
                else f"172.16.{self.rng.randint(0, 15)}.{self.rng.randint(2, 250)}")

    # -- the service provider register ----------------------------------
    def register(self) -> None:
        """Odd engagements: an approved offshore overflow site, proposed and decided as the real register is
        (its CONTRACT-SUBCON prior-notice clock met at the decision), weeks after the start; ``offshore``
        follows from the register through ``subcontractors.sync_offshore``, as for every engagement. Then
        the Statement of Applicability and the schedule (with the offshore controls from the start, so that
        they have three years of history) and the APP 8 series of the site."""
        if self.number % 2 == 1:
            self._offshore_site()
        generate_register(self.engagement, self.codes, now=self.now)
        subcontractors.plan_recipient_series(self.engagement, self.now)

    def _offshore_site(self) -> None:
        e, rng = self.engagement, self.rng
        proposed = dt.datetime.combine(e.start_date, dt.time(0)) + dt.timedelta(days=rng.randint(20, 60))
        decided = proposed + dt.timedelta(days=rng.randint(2, 10))
        countries = ["PH"]
        sub = Subcontractor.create(
            engagement=e.id, name=f"Scale Overflow Site {self.number:04d}", services=json.dumps(["Overflow calls"]),
            critical_operations=json.dumps(["Customer enquiries"]), countries=json.dumps(countries),
            data_categories=json.dumps(["Customer name", "Call recordings"]), personal_information=True,
            personal_information_detail="Customer name, Call recordings", material=False, status="approved",
            apra_notified_on=(proposed + dt.timedelta(days=1)).date(), proposed_by=self.contributor.id,
            proposed_at=proposed, decided_by=(self.admin or self.risk).id, decided_at=decided,
            decision_reason="Due diligence and APP 8 contract clauses in place")
        self.events.add(proposed, "subcontractor.propose", self.contributor, "subcontractor", sub.id,
                        {"name": sub.name, "countries": countries, "material": False, "offshore": True})
        self.events.add(decided, "subcontractor.decision", self.admin or self.risk, "subcontractor", sub.id,
                        {"decision": "approved", "offshore": True})
        if subcontractor_rules.starts_prior_notice(sub.material, subcontractor_rules.is_offshore(countries)):
            rule = self.rules[subcontractors.PRIOR_NOTICE_RULE]
            fields = clocks.timing_fields(rule, proposed, self.settings, "proposed by the provider")
            state = state_after_notice(fields["state"], fields["deadline_at"], decided)
            Clock.create(engagement=e.id, subject_type=subcontractors.SUBJECT, subject_id=sub.id, rule_id=rule.rule_id,
                         note=rule.note, **{**fields, "state": state}, met_at=decided,
                         recorded_by=(self.admin or self.risk).id)
        subcontractors.sync_offshore(e)  # the real derivation: offshore follows from the approved register
        self.engagement = Engagement.get_by_id(e.id)

    # -- incidents and clocks --------------------------------------------
    def incidents(self) -> None:
        """Incidents with the clocks the real services give them (``domain.clocks``: which rules start, from
        which instant, with which deadline): contractual clocks from ``aware_at``, regulatory ones from the
        client's awareness (the provider's CONTRACT-NOTICE notice for an incident the provider found, pending
        until then), CPS230-TOLERANCE from ``outside_tolerance_at``, NDB-NOTIFY from an eligible assessment's
        conclusion. Bulk-inserted; only the notice times and the assessment are drawn at random."""
        rng, now, e = self.rng, self.now, self.engagement
        start = dt.datetime.combine(e.start_date, dt.time(0))
        years = max(1, round((now - start).days / 365))
        categories = [c for c, w in CATEGORY_WEIGHTS for _ in range(w)
                      if e.card_payments or c != "card_data_compromise"]
        incidents, plans = [], []
        for _ in range(sum(rng.randint(2, 4) for _ in range(years))):
            category = rng.choice(categories)
            aware = _between(rng, start + dt.timedelta(days=7), now - dt.timedelta(days=10))
            occurred = aware - dt.timedelta(minutes=rng.randint(10, 5 * 24 * 60))
            flags = {
                "material": rng.random() < (0.4 if category in ("security_incident", "operational_disruption")
                                            else 0.2),
                "personal_information": category == "personal_information_breach" or rng.random() < 0.1,
                "card_data": category == "card_data_compromise",
                "outside_tolerance": category == "operational_disruption" and rng.random() < 0.4,
                "cannot_remediate_timely": category == "control_weakness" and rng.random() < 0.5,
            }
            party = "provider" if rng.random() < 0.7 else "client"
            row = {"engagement": e.id, "title": rng.choice(INCIDENT_TITLES[category]), "category": category,
                   "description": "Synthetic incident for benchmarks.", "occurred_at": occurred, "aware_at": aware,
                   "aware_party": party, **flags,
                   "outside_tolerance_at": (occurred + dt.timedelta(minutes=rng.randint(30, 12 * 60))
                                            if flags["outside_tolerance"] else None),
                   "created_by": (self.contributor if party == "provider" else self.risk).id,
                   "created_at": aware + dt.timedelta(minutes=rng.randint(5, 240))}
            plans.append(self._clocks_of(row))  # also sets client_aware_at and the assessment on the row
            incidents.append(row)
        order = sorted(range(len(incidents)), key=lambda i: incidents[i]["aware_at"])
        incidents, plans = [incidents[i] for i in order], [plans[i] for i in order]
        _insert(Incident, incidents)
        ids = [i for (i,) in Incident.select(Incident.id).where(Incident.engagement == e)
               .order_by(Incident.id).tuples()]
        rows = []
        for incident_id, row, plan in zip(ids, incidents, plans, strict=True):
            row["id"] = incident_id
            actor = self.contributor if row["aware_party"] == "provider" else self.risk
            self.events.add(row["created_at"], "incident.create", actor, "incident", incident_id,
                            {"category": row["category"], "title": row["title"]}, ip=self._ip(row["aware_party"]))
            if row["assessment_concluded_at"] is not None:
                self.events.add(row["assessment_concluded_at"], "incident.assessment", self.risk, "incident",
                                incident_id, {"eligible": row["assessment_eligible"]}, ip=self._ip("client"))
            for clock in plan:
                rows.append({**clock, "engagement": e.id, "incident": incident_id, "subject_type": "incident",
                             "subject_id": incident_id})
                if clock["met_at"] is not None:
                    self.events.add(clock["met_at"] + dt.timedelta(minutes=rng.randint(1, 120)), "clock.notice",
                                    self.risk, "incident", incident_id,
                                    {"rule": clock["rule_id"], "notified_at": clock["met_at"].isoformat(),
                                     "state": clock["state"]}, ip=self._ip("client"))
        _insert(Clock, rows)
        self.incident_rows = incidents
        self.counts["incidents"], self.counts["clocks"] = len(incidents), len(rows)

    def _notice(self, fields: dict) -> dt.datetime | None:
        """When a running clock's notice was given: mostly in time, some late, None when not yet."""
        started, end = fields["started_at"], fields["deadline_at"] or fields["target_at"]
        if self.rng.random() < 0.88:
            met = started + (end - started) * self.rng.uniform(0.05, 0.95)
        else:
            met = end + dt.timedelta(hours=self.rng.uniform(1, 72))
        return met if met < self.now else None

    def _clock(self, rule: Rule, started: dt.datetime | None, how: str,
               notice: dt.datetime | None = None) -> dict[str, Any]:
        """One clock row as ``services.incidents.clocks.start_clock`` stores it, then its notice (drawn, or given)."""
        fields = clocks.timing_fields(rule, started, self.settings, how)
        clock = {"rule_id": rule.rule_id, "note": rule.note, **fields, "notice_evidence": None}
        return self._settle(clock, None if fields["state"] == "pending" else (notice or self._notice(fields)))

    def _settle(self, clock: dict[str, Any], met: dt.datetime | None) -> dict[str, Any]:
        """The clock after its notice at ``met`` (``domain.clocks.state_after_notice``), or, without one, as
        the scheduler's pass leaves it (breached once past its deadline)."""
        running = "pending" if clock["started_at"] is None else "running"
        if met is not None:
            state = state_after_notice(running, clock["deadline_at"], met)
        elif running == "running" and clock["deadline_at"] is not None and clock["deadline_at"] < self.now:
            state = "breached"
        else:
            state = running
        clock.update(state=state, met_at=met, recorded_by=self.risk.id if met else None)
        return clock

    def _clocks_of(self, row: dict) -> list[dict[str, Any]]:
        """The clocks the incident ``row`` starts (and, once the client knows, the regulatory ones), with its
        ``client_aware_at`` and NDB assessment set on ``row``: the order of the real flow (record, notice,
        assessment)."""
        facts = IncidentFacts(category=row["category"], flags=frozenset(f for f in INCIDENT_FLAGS if row.get(f)),
                              aware_party=row["aware_party"], occurred_at=row["occurred_at"],
                              aware_at=row["aware_at"], outside_tolerance_at=row["outside_tolerance_at"])
        started_rules = rules_started(list(self.rules.values()), facts)
        out = [self._clock(r, *start_instant(r, facts, self.settings)) for r in started_rules
               if r.rule_id == CONTRACT_NOTICE]
        notice = out[0]["met_at"] if out else None
        client_at, _how = client_aware_at(facts, self.settings, notice)
        row["client_aware_at"] = client_at
        for rule in started_rules:
            if rule.rule_id != CONTRACT_NOTICE:
                out.append(self._clock(rule, *start_instant(rule, facts, self.settings, notice)))
        row.update(assessment_concluded_at=None, assessment_eligible=None, assessment_summary="")
        assess = next((c for c in out if c["rule_id"] == NDB_ASSESS), None)
        if assess is None or assess["started_at"] is None:
            return out
        concluded = assess["started_at"] + dt.timedelta(hours=self.rng.uniform(12, 35 * 24))
        if concluded >= self.now:
            self._settle(assess, None)
            return out
        eligible = row["material"] or self.rng.random() < 0.3
        row.update(assessment_concluded_at=concluded, assessment_eligible=eligible,
                   assessment_summary="Synthetic NDB assessment.")
        self._settle(assess, concluded)  # the assessment meets NDB-ASSESS
        if eligible:
            for rule in self.rules.values():
                if rule.start == FROM_ASSESSMENT:
                    out.append(self._clock(rule, concluded, "from the assessment's conclusion"))
        return out

    # -- findings --------------------------------------------------------
    def findings(self) -> None:
        rng, now, e, ev = self.rng, self.now, self.engagement, self.events
        rows: list[dict[str, Any]] = []

        def finding(source: str, title: str, raised: dt.datetime, raised_by: User, *, request=None, incident=None,
                    closed: dt.datetime | None = None, description: str = "") -> None:
            if closed is not None and closed >= now:
                closed = None
            status = "closed" if closed else ("in_progress" if rng.random() < 0.5 else "open")
            rows.append({"engagement": e.id, "source": source, "request": request, "incident": incident,
                         "title": title[:200], "description": description, "owner": self.contributor.id,
                         "due_date": (raised + dt.timedelta(days=30)).date(),
                         "action_plan": ("Root cause analysis, corrective action and re-test."
                                         if status != "open" else ""),
                         "status": status, "raised_by": raised_by.id, "created_at": raised, "closed_at": closed})

        rejected_then_accepted = [(rid, items) for rid, (final, items) in self.history.items()
                                  if final == "accepted" and items[0]["status"] == "rejected"]
        for rid, items in rng.sample(rejected_then_accepted, min(6, len(rejected_then_accepted))):
            finding("request", f"Evidence rejected: {items[0]['original_filename']}", items[0]["reviewed_at"],
                    self.risk, request=rid, closed=items[-1]["reviewed_at"], description=items[0]["review_comment"])
        overdue = list(EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.due_at)
                       .where(EvidenceRequest.engagement == e, EvidenceRequest.status == "overdue").tuples())
        for rid, due in rng.sample(overdue, min(4, len(overdue))):
            finding("request", f"Evidence overdue for request #{rid}",
                    min(due + dt.timedelta(days=e.grace_days + 1), now - dt.timedelta(hours=1)),
                    self.risk, request=rid)
        for row in self.incident_rows:
            if row["material"]:
                finding("incident", f"Post-incident review: {row['title']}", row["aware_at"] + dt.timedelta(days=3),
                        self.risk, incident=row["id"], closed=row["aware_at"] + dt.timedelta(days=rng.randint(20, 90)))
        if self.auditor is not None:
            for year in range(3):
                raised = now - dt.timedelta(days=365 * year + rng.randint(20, 300))
                finding("auditor", rng.choice(("Access review sign-off not evidenced for one quarter",
                                               "BCP test report lacks recovery-time results",
                                               "Clean-desk checks not performed at the offshore site")),
                        raised, self.auditor, closed=raised + dt.timedelta(days=rng.randint(30, 120)))
        _insert(Finding, rows)
        ids = [i for (i,) in Finding.select(Finding.id).where(Finding.engagement == e).order_by(Finding.id).tuples()]
        for finding_id, row in zip(ids, rows, strict=True):
            raised_by = self.auditor if row["source"] == "auditor" else self.risk
            ev.add(row["created_at"], "finding.create", raised_by, "finding", finding_id,
                   {"source": row["source"], "title": row["title"]})
            if row["closed_at"]:
                ev.add(row["closed_at"], "finding.close", self.risk, "finding", finding_id, {})
        self.counts["findings"] = len(rows)

    # -- sign-ins, then the chain ----------------------------------------
    def logins(self) -> None:
        rng, e = self.rng, self.engagement
        day = dt.datetime.combine(e.start_date, dt.time(0))
        while day < self.now - dt.timedelta(days=1):
            if day.weekday() < 5:
                for user, side, chance in ((self.contributor, "provider", 0.35), (self.risk, "client", 0.25)):
                    if rng.random() < chance:
                        at = day + dt.timedelta(hours=rng.uniform(-3, 6))  # 08:00-17:00 AEST-ish, in UTC
                        self.events.add(at, "auth.login", user, "user", user.id, {}, ip=self._ip(side))
            day += dt.timedelta(days=1)

    def write_events(self) -> None:
        rows = sorted(self.events.rows, key=lambda row: row["at"])
        self.counts["audit_events"] = append_chained(rows)


def create_scale(n: int, progress: Callable[[str], Any] | None = None, *,
                 now: dt.datetime | None = None) -> ScaleResult:
    """Add ``n`` engagements of Demo Bank with three years of history each (benchmark data)."""
    if n < 1:
        return ScaleResult()
    say = progress or (lambda _msg: None)
    began = time.monotonic()
    require_library()
    bank = Organisation.get_or_none(Organisation.name == CLIENT)
    risk = User.get_or_none(User.email == "risk@demobank.example")
    if bank is None or risk is None:
        for line in create_demo():
            say(line)
        bank = Organisation.get(Organisation.name == CLIENT)
        risk = User.get(User.email == "risk@demobank.example")
    auditor = User.get_or_none(User.email == "auditor@demoassurance.example")
    admin = User.get_or_none(User.email == "admin@demobank.example")
    now = now or utcnow()
    shared = demo_password()
    password_hash = hash_password(shared) if shared else UNUSABLE_PASSWORD
    first = Engagement.select().where(Engagement.client == bank, Engagement.name.startswith(SCALE_PREFIX)).count() + 1
    result = ScaleResult()
    for i, number in enumerate(range(first, first + n), start=1):
        t0 = time.monotonic()
        scaler = _Scaler(number, bank, admin, risk, auditor, now, password_hash)
        with transaction():
            engagement = scaler.create_engagement()
            scaler.register()
            scaler.evidence()
            scaler.incidents()
            scaler.findings()
            scaler.counts["kpi_results"] += scale_performance(engagement, scaler.contributor, risk, now,
                                                              random.Random(f"attest-scale-kpi-{number}"))
            scaler.logins()
            scaler.write_events()
        result.engagement_ids.append(engagement.id)
        for key, value in scaler.counts.items():
            result.counts[key] += value
        c = scaler.counts
        say(f"engagement {i}/{n} (#{engagement.id} {engagement.name}): {c['requests']:,} requests, "
            f"{c['evidence']:,} evidence, {c['incidents']} incidents, {c['clocks']} clocks, "
            f"{c['findings']} findings, {c['kpi_results']:,} KPI results, {c['audit_events']:,} audit events "
            f"({time.monotonic() - t0:.1f}s)")
    result.seconds = time.monotonic() - began
    c = result.counts
    say(f"scale: {n} engagement(s) in {result.seconds:.1f}s: {c['requests']:,} requests, {c['evidence']:,} evidence, "
        f"{c['incidents']:,} incidents, {c['audit_events']:,} audit events")
    return result
