"""Read side of the register: the library and engagement queries that the API and the pages share.

Engagement data is always reached through ``services.scope``; each function fetches a whole
list in a fixed number of queries (no N+1).
"""
from __future__ import annotations

from collections import defaultdict

import peewee as pw

from domain.errors import NotFound
from models import (Applicability, Control, ControlObligation, Engagement, EngagementFramework,
                    EvidenceRequest, EvidenceRequirement, Framework, Obligation, Organisation, User)

from . import scope



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


def frameworks_by_engagement(engagement_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if engagement_ids:
        for engagement_id, code in (EngagementFramework.select(EngagementFramework.engagement, Framework.code)
                                    .join(Framework).where(EngagementFramework.engagement.in_(engagement_ids))
                                    .order_by(Framework.code).tuples()):
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
    frameworks = frameworks_by_engagement(ids)
    return [{"engagement": e, "counts": counts.get(e.id, {}), "total": sum(counts.get(e.id, {}).values()),
             "frameworks": frameworks.get(e.id, [])} for e in rows]


def requests_with_names(query: pw.ModelSelect) -> pw.ModelSelect:
    return (query.select(EvidenceRequest, Control, EvidenceRequirement)
            .join(Control, on=(EvidenceRequest.control == Control.id), attr="control").switch(EvidenceRequest)
            .join(EvidenceRequirement, on=(EvidenceRequest.requirement == EvidenceRequirement.id),
                  attr="requirement"))


def soa_query(user: User, engagement: Engagement, applicable: bool | None = None) -> pw.ModelSelect:
    query = (Applicability.select(Applicability, Control).join(Control, attr="control")
             .where(Applicability.engagement == engagement,
                    Applicability.control.in_(scope.visible_controls(user, engagement).select(Control.id)))
             .order_by(Control.code))
    if applicable is not None:
        query = query.where(Applicability.applicable == applicable)
    return query
