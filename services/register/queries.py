"""Read side of the register: the library and engagement queries that the API and the pages share.

Engagement data is always reached through ``services.scope``; each function fetches a whole
list in a fixed number of queries (no N+1).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import peewee as pw

from domain import subcontractors as subcontractor_rules
from domain.applicability import ControlFacts, justification_within
from domain.errors import NotFound, ValidationError
from domain.inbox import due_bounds, parse_due
from domain.library import shown_alt_ref, without_names
from domain.timeutil import parse_date, start_of_local_day
from models import (
    Applicability,
    Control,
    ControlObligation,
    Engagement,
    EngagementFramework,
    EvidenceRequest,
    EvidenceRequirement,
    Framework,
    Obligation,
    Organisation,
    Subcontractor,
    User,
    utcnow,
)
from models.register import REQUEST_STATES
from services import scope
from services.register import invitations


def live_frameworks() -> pw.ModelSelect:
    return Framework.select().where(Framework.retired_in.is_null()).order_by(Framework.code)


def framework_by_code(code: str) -> Framework:
    framework = live_frameworks().where(Framework.code == code).first()
    if framework is None:
        raise NotFound(f"no framework {code!r} in the library")
    return framework


def obligation_counts() -> dict[int, int]:
    return dict(Obligation.select(Obligation.framework, pw.fn.COUNT(Obligation.id))
                .where(Obligation.retired_in.is_null()).group_by(Obligation.framework).tuples())


def obligations_of(framework: Framework) -> list[Obligation]:
    return list(Obligation.select().where(Obligation.framework == framework, Obligation.retired_in.is_null())
                .order_by(Obligation.sort_key, Obligation.ref))


def mappings_of_framework(framework: Framework) -> list[tuple[int, int, str, str, str]]:
    """(obligation id, control id, control code, control title, coverage) for one framework."""
    return list(ControlObligation.select(ControlObligation.obligation, Control.id, Control.code, Control.title,
                                         ControlObligation.coverage)
                .join(Control).switch(ControlObligation).join(Obligation)
                .where(Obligation.framework == framework, ControlObligation.retired_in.is_null(),
                       Control.retired_in.is_null())
                .order_by(Control.code).tuples())


def status_counts(query: pw.ModelSelect) -> dict[str, int]:
    rows = query.select(EvidenceRequest.status, pw.fn.COUNT(EvidenceRequest.id)).group_by(EvidenceRequest.status)
    return dict(rows.tuples())


def status_counts_by_engagement(user: User, engagement_ids: list[int]) -> dict[int, dict[str, int]]:
    """Request counts per engagement and status: one grouped query (auditors: one per granted engagement)."""
    out: dict[int, dict[str, int]] = defaultdict(dict)
    if not engagement_ids:
        return out
    if user.role == "auditor":
        for engagement in scope.engagements_for(user).where(Engagement.id.in_(engagement_ids)):
            out[engagement.id] = status_counts(scope.requests_for(user, engagement))
        return out
    rows = (EvidenceRequest.select(EvidenceRequest.engagement, EvidenceRequest.status, pw.fn.COUNT(EvidenceRequest.id))
            .where(EvidenceRequest.engagement.in_(scope.engagements_for(user).select(Engagement.id)),
                   EvidenceRequest.engagement.in_(engagement_ids))
            .group_by(EvidenceRequest.engagement, EvidenceRequest.status).tuples())
    for engagement_id, status, count in rows:
        out[engagement_id][status] = count
    return out


def frameworks_by_engagement(user: User, engagements: list[Engagement]) -> dict[int, list[str]]:
    """The framework codes in scope of each engagement, as far as the user may see them
    (an auditor sees only the frameworks of its grant)."""
    out: dict[int, list[str]] = defaultdict(list)
    if not engagements:
        return out
    by_id = {e.id: e for e in engagements}
    granted = {e.id: scope.granted_framework_codes(user, e) for e in engagements} if user.role == "auditor" else {}
    for engagement_id, code in (EngagementFramework.select(EngagementFramework.engagement, Framework.code)
                                .join(Framework).where(EngagementFramework.engagement.in_(list(by_id)))
                                .order_by(Framework.code).tuples()):
        if engagement_id not in granted or code in granted[engagement_id]:
            out[engagement_id].append(code)
    return out


def engagements_with_parties(user: User) -> pw.ModelSelect:
    """The user's engagements with client and provider names joined in (one query)."""
    client, provider = Organisation.alias("client_org"), Organisation.alias("provider_org")
    return (scope.engagements_for(user)
            .select(Engagement, client, provider)
            .join(client, on=(Engagement.client == client.id), attr="client").switch(Engagement)
            .join(provider, on=(Engagement.provider == provider.id), attr="provider")
            .order_by(Engagement.name))


def engagement_summaries(user: User) -> list[dict]:
    rows = list(engagements_with_parties(user))
    ids = [e.id for e in rows]
    counts = status_counts_by_engagement(user, ids)
    frameworks = frameworks_by_engagement(user, rows)
    invited = invitations.by_engagement(ids)  # a provider not yet accepted is shown by the name the client gave
    return [{"engagement": e, "counts": counts.get(e.id, {}), "total": sum(counts.get(e.id, {}).values()),
             "frameworks": frameworks.get(e.id, []), "invitation": invited.get(e.id)} for e in rows]


def requests_with_names(query: pw.ModelSelect) -> pw.ModelSelect:
    return (query.select(EvidenceRequest, Control, EvidenceRequirement)
            .join(Control, on=(EvidenceRequest.control == Control.id), attr="control").switch(EvidenceRequest)
            .join(EvidenceRequirement, on=(EvidenceRequest.requirement == EvidenceRequirement.id),
                  attr="requirement"))


APPLICABLE_VALUES = {"true": True, "yes": True, "false": False, "no": False}


def parse_applicable(value: str | None) -> bool | None:
    """The ``applicable`` filter: true/yes, false/no, or absent (both); anything else is refused."""
    if not value:
        return None
    if value.lower() not in APPLICABLE_VALUES:
        raise ValidationError("applicable must be true or false", field="applicable")
    return APPLICABLE_VALUES[value.lower()]


def soa_query(user: User, engagement: Engagement, applicable: bool | None = None) -> pw.ModelSelect:
    query = (Applicability.select(Applicability, Control).join(Control, attr="control")
             .where(Applicability.engagement == engagement,
                    Applicability.control.in_(scope.visible_controls(user, engagement).select(Control.id)))
             .order_by(Control.code))
    if applicable is not None:
        query = query.where(Applicability.applicable == applicable)
    return query


def redact_justifications(user: User, engagement: Engagement, rows: list[Applicability]) -> list[Applicability]:
    """SoA rows as ``user`` may read them: for an auditor, no justification names a framework of the
    engagement outside its grant (the rows are changed in memory only, never saved)."""
    granted = scope.granted_framework_codes(user, engagement)
    return rows if granted is None else redact_to_frameworks(rows, granted, engagement)


def redact_to_frameworks(rows: list[Applicability], codes: set[str], engagement: Engagement) -> list[Applicability]:
    """Rewrite (in memory) each justification that names a framework of the engagement outside ``codes``."""
    if not rows:
        return rows
    in_scope = frozenset(EngagementFramework.select(Framework.code).join(Framework)
                         .where(EngagementFramework.engagement == engagement).tuples().scalars())
    mapped = mappings_of([row.control_id for row in rows])
    for row in rows:
        facts = ControlFacts(row.control.code, frozenset(m.framework for m in mapped[row.control_id]),
                             row.control.requires)
        row.justification = justification_within(row.justification, row.applicable, facts, frozenset(codes),
                                                 in_scope)
    return rows


class MappedObligation(NamedTuple):
    framework: str
    framework_title: str
    ref: str
    title: str
    coverage: str


def mappings_of(control_ids: list[int]) -> dict[int, list[MappedObligation]]:
    """The live obligations each control serves, in one query."""
    out: dict[int, list[MappedObligation]] = defaultdict(list)
    if control_ids:
        rows = (ControlObligation.select(ControlObligation.control, Framework.code, Framework.title, Obligation.ref,
                                         Obligation.title, ControlObligation.coverage)
                .join(Obligation).join(Framework)
                .where(ControlObligation.control.in_(control_ids), ControlObligation.retired_in.is_null())
                .order_by(Framework.code, Obligation.sort_key, Obligation.ref).tuples())
        for control_id, *rest in rows:
            out[control_id].append(MappedObligation(*rest))
    return out


def readable_controls(user: User, controls: list[Control]) -> list[Control]:
    """Controls as ``user`` may read them: for an auditor, no description names a framework or clock rule
    outside its grants (changed in memory only, never saved)."""
    hidden = scope.hidden_names(user)
    if hidden:
        for control in controls:
            control.description = without_names(control.description, hidden)
            control.title = without_names(control.title, hidden)
    return controls


def readable_mappings(user: User, control_ids: list[int]) -> dict[int, list[MappedObligation]]:
    """``mappings_of`` as the user may read them: an auditor's name only the frameworks of its grants."""
    out = mappings_of(control_ids)
    allowed = set(scope.readable_codes(user, {m.framework for rows in out.values() for m in rows}))
    return defaultdict(list, {cid: [m for m in rows if m.framework in allowed] for cid, rows in out.items()})


def requirements_of(control_ids: list[int]) -> dict[int, list[EvidenceRequirement]]:
    """The live evidence requirements of each control, in one query."""
    out: dict[int, list[EvidenceRequirement]] = defaultdict(list)
    if control_ids:
        for req in (EvidenceRequirement.select()
                    .where(EvidenceRequirement.control.in_(control_ids), EvidenceRequirement.retired_in.is_null())
                    .order_by(EvidenceRequirement.key)):
            out[req.control_id].append(req)
    return out


def accepted_types(requirement: EvidenceRequirement) -> list[str]:
    return json.loads(requirement.accepted_types)


def controls_of_obligations(obligation_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """(control code, coverage) for each obligation, in one query."""
    out: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if obligation_ids:
        rows = (ControlObligation.select(ControlObligation.obligation, Control.code, ControlObligation.coverage)
                .join(Control)
                .where(ControlObligation.obligation.in_(obligation_ids), ControlObligation.retired_in.is_null())
                .order_by(Control.code).tuples())
        for obligation_id, code, coverage in rows:
            out[obligation_id].append((code, coverage))
    return out


@dataclass
class Matrix:
    """Obligations (rows) x the controls that map them (columns) for one framework."""
    framework: Framework
    obligations: list[Obligation]
    controls: list[tuple[int, str, str]]  # (id, code, title), by code
    cells: dict[tuple[int, int], str]  # (obligation id, control id) -> full | partial
    summary: Counter = field(default_factory=Counter)  # full | partial | uncovered | not_provable

    HEADERS = ("framework", "ref", "alt_ref", "obligation", "coverage", "controls_full", "controls_partial")

    def rows(self) -> list[tuple[str, ...]]:
        """One row per obligation, for CSV and Excel exports."""
        out = []
        for o in self.obligations:
            by_coverage: dict[str, list[str]] = defaultdict(list)
            for control_id, code, _title in self.controls:
                if (o.id, control_id) in self.cells:
                    by_coverage[self.cells[(o.id, control_id)]].append(code)
            out.append((self.framework.code, o.ref, _alt_ref_text(o), o.title,
                        coverage_of(o, set(by_coverage)), " ".join(by_coverage["full"]),
                        " ".join(by_coverage["partial"])))
        return out


def _alt_ref_text(obligation: Obligation) -> str:
    """The other number for an export: as is when confirmed, marked "(unverified)" when nothing confirms it."""
    if not obligation.alt_ref:
        return ""
    shown = shown_alt_ref(obligation.alt_ref, obligation.alt_ref_verification)
    return shown or f"{obligation.alt_ref} (unverified)"


def coverage_matrix(framework: Framework) -> Matrix:
    obligations = obligations_of(framework)
    cells: dict[tuple[int, int], str] = {}
    controls: dict[int, tuple[int, str, str]] = {}
    found: dict[int, set[str]] = defaultdict(set)
    for obligation_id, control_id, code, title, coverage in mappings_of_framework(framework):
        cells[(obligation_id, control_id)] = coverage
        controls[control_id] = (control_id, code, title)
        found[obligation_id].add(coverage)
    summary = Counter(coverage_of(o, found[o.id]) for o in obligations)
    return Matrix(framework, obligations, sorted(controls.values(), key=lambda c: c[1]), cells, summary)


def coverage_of(obligation: Obligation, found: set[str]) -> str:
    """full | partial | uncovered | not_provable for one obligation, given its mappings' coverages."""
    if not obligation.provable:
        return "not_provable"
    return "full" if "full" in found else "partial" if found else "uncovered"


def controls_in_framework(code: str) -> pw.ModelSelect:
    """Ids of the controls mapped to a live framework; ValidationError when there is no such framework."""
    framework = live_frameworks().where(Framework.code == code).first()
    if framework is None:
        raise ValidationError(f"no framework {code!r} in the library", field="framework")
    return (ControlObligation.select(ControlObligation.control).join(Obligation)
            .where(Obligation.framework == framework, ControlObligation.retired_in.is_null()))


def parse_id(value: str | None, field: str) -> int | None:
    """An optional id filter (``owner``, ``engagement``): None when empty, ValidationError when not an id."""
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or not 0 < int(value) < 2**63:
        raise ValidationError(f"{field} must be an id (a positive whole number)", field=field)
    return int(value)


def narrow_requests(user: User, query: pw.ModelSelect, args: Mapping[str, str]) -> pw.ModelSelect:
    """Narrow a scoped request query by ``control`` (code), ``framework`` (code: the control maps to it and
    the engagement has it in scope) and ``owner`` (user id of the person who must deliver the request)."""
    if args.get("framework"):
        scope.readable_framework(user, args["framework"])
    if args.get("control"):
        control_ids = Control.select(Control.id).where(Control.code == args["control"])
        query = query.where(EvidenceRequest.control.in_(control_ids))
    if args.get("framework"):
        in_scope = (EngagementFramework.select(EngagementFramework.engagement).join(Framework)
                    .where(Framework.code == args["framework"]))
        query = query.where(EvidenceRequest.control.in_(controls_in_framework(args["framework"])),
                            EvidenceRequest.engagement.in_(in_scope))
    owner = user.id if args.get("owner") == "me" else parse_id(args.get("owner"), "owner")
    if owner is not None:
        query = query.where(EvidenceRequest.owner == owner)
    return query


# ?sort= of request lists: name -> (label, ORDER BY); "engagement" needs Engagement joined (the dashboard does).
REQUEST_SORTS: dict[str, tuple[str, tuple]] = {
    "due": ("Most overdue first", (EvidenceRequest.due_at, EvidenceRequest.id)),
    "-due": ("Latest due first", (EvidenceRequest.due_at.desc(), EvidenceRequest.id.desc())),
    "control": ("Control", (Control.code, EvidenceRequest.due_at, EvidenceRequest.id)),
    "status": ("Status", (EvidenceRequest.status, EvidenceRequest.due_at, EvidenceRequest.id)),
    "engagement": ("Engagement", (Engagement.name, EvidenceRequest.due_at, EvidenceRequest.id)),
}


def parse_sort(value: str | None, allowed: tuple[str, ...]) -> str:
    """A ``?sort=`` value among ``allowed`` (the first is the default); ValidationError otherwise."""
    if not value:
        return allowed[0]
    if value not in allowed:
        raise ValidationError(f"sort must be one of {', '.join(allowed)}", field="sort")
    return value


def order_requests(query: pw.ModelSelect, sort: str) -> pw.ModelSelect:
    return query.order_by(*REQUEST_SORTS[sort][1])


def due_within(query: pw.ModelSelect, window: str, now: dt.datetime) -> pw.ModelSelect:
    """Narrow a request query to a due window of ``domain.inbox`` ('' leaves it as it is)."""
    start, end = due_bounds(window, now)
    if start is not None:
        query = query.where(EvidenceRequest.due_at >= start)
    if end is not None:
        query = query.where(EvidenceRequest.due_at < end)
    return query


def filter_requests(user: User, query: pw.ModelSelect, engagement: Engagement,
                    args: Mapping[str, str]) -> pw.ModelSelect:
    """Narrow a scoped request query by ``status`` (comma list), ``control``, ``framework``, ``owner``
    (see ``narrow_requests``), ``due`` (a window of ``domain.inbox``) and ``due_before`` / ``due_after`` (whole
    local days of the engagement); ValidationError on bad values."""
    query = due_within(narrow_requests(user, query, args), parse_due(args.get("due")), utcnow())
    if args.get("status"):
        wanted = [s.strip() for s in args["status"].split(",") if s.strip()]
        unknown = [s for s in wanted if s not in REQUEST_STATES]
        if unknown:
            raise ValidationError(f"unknown status {', '.join(unknown)}; expected one of {', '.join(REQUEST_STATES)}",
                                  field="status")
        query = query.where(EvidenceRequest.status.in_(wanted))
    else:  # retired requests (a re-planned schedule no longer needs them) are shown only when asked for
        query = query.where(EvidenceRequest.status != "retired")
    for arg, op in (("due_before", "__lt__"), ("due_after", "__ge__")):
        if args.get(arg):
            try:
                boundary = start_of_local_day(parse_date(args[arg]), engagement.timezone)
            except (ValueError, OverflowError):
                raise ValidationError(f"{arg} must be a date (YYYY-MM-DD) between 1900 and 2999",
                                      field=arg) from None
            query = query.where(getattr(EvidenceRequest.due_at, op)(boundary))
    return query


def cross_border_recipients(engagement: Engagement) -> list[Subcontractor]:
    """APP 8: approved sub-contractors or sites outside Australia that receive personal information."""
    return [s for s in Subcontractor.select().where(Subcontractor.engagement == engagement.id,
                                                    Subcontractor.status == "approved",
                                                    Subcontractor.personal_information == True)  # noqa: E712
            .order_by(Subcontractor.proposed_at, Subcontractor.id)
            if subcontractor_rules.is_offshore(json.loads(s.countries or "[]"))]
