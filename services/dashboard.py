"""The overdue dashboard: what is overdue or due soon across the caller's engagements (SPEC §5
``GET /dashboard/overdue``), its summary (by status, aging bucket, engagement × framework) and a
12-month trend.

Everything is counted in SQL (grouped queries over the indexes on ``evidencerequest``), and the item
list is one bounded page, so the number of statements stays the same however many requests there are.
Scope comes from ``services.scope.requests_across`` alone.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import peewee as pw

from domain.errors import ValidationError
from models import (
    Applicability,
    Control,
    ControlObligation,
    Engagement,
    EngagementFramework,
    EvidenceRequest,
    Framework,
    Obligation,
    User,
    utcnow,
)

from . import register, scope

WINDOWS = (7, 14, 30, 60, 90)  # the "due within" choices, in days
DEFAULT_WINDOW = 14
OWED = ("upcoming", "open", "rejected")  # states in which the provider still owes evidence
# aging of overdue requests, by whole days past due: (label, first day, last day or None)
AGING = (("1-7", 1, 7), ("8-30", 8, 30), ("31-90", 31, 90), ("90+", 91, None))
SORTS = ("due", "-due", "engagement", "control", "status")
TREND_MONTHS = 12


@dataclass(frozen=True)
class Filters:
    engagement: int | None = None
    framework: str = ""
    control: str = ""
    owner: int | None = None
    window: int = DEFAULT_WINDOW
    sort: str = SORTS[0]

    def as_args(self) -> dict[str, str]:
        """The filters as query arguments (for links, exports and narrowing), empty ones left out."""
        args = {"engagement": self.engagement, "framework": self.framework, "control": self.control,
                "owner": self.owner, "window": self.window if self.window != DEFAULT_WINDOW else None,
                "sort": self.sort if self.sort != SORTS[0] else None}
        return {k: str(v) for k, v in args.items() if v not in (None, "")}


def parse_filters(user: User, args: Mapping[str, str]) -> Filters:
    """The dashboard's filters from query arguments; ValidationError (with the field) on a bad value, an
    auditor's framework outside its grants included."""
    window = args.get("window") or str(DEFAULT_WINDOW)
    if window not in {str(w) for w in WINDOWS}:
        raise ValidationError(f"window must be one of {', '.join(map(str, WINDOWS))} (days)", field="window")
    if args.get("framework"):
        register.controls_in_framework(register.readable_framework_filter(user, args["framework"]))  # validates
    return Filters(engagement=register.parse_id(args.get("engagement"), "engagement"),
                   framework=args.get("framework", ""), control=args.get("control", ""),
                   owner=register.parse_id(args.get("owner"), "owner"), window=int(window),
                   sort=register.parse_sort(args.get("sort"), SORTS))


@dataclass
class Dashboard:
    now: dt.datetime
    filters: Filters
    total: int
    items: list[EvidenceRequest]
    by_status: dict[str, int]
    by_aging: dict[str, int]
    heatmap: list[dict]  # {engagement_id, engagement, framework, overdue, due_soon}
    trend: list[dict]  # {month: "YYYY-MM", accepted, overdue}
    frameworks: list[str] = field(default_factory=list)

    @property
    def overdue(self) -> int:
        return self.by_status.get("overdue", 0)

    @property
    def due_soon(self) -> int:
        return self.total - self.overdue


def in_scope(user: User, filters: Filters) -> pw.ModelSelect:
    """The caller's requests narrowed by the filters (any state): the base of every count here."""
    query = scope.requests_across(user)
    if filters.engagement is not None:
        query = query.where(EvidenceRequest.engagement == filters.engagement)
    return register.narrow_requests(user, query, {"control": filters.control, "framework": filters.framework,
                                            "owner": str(filters.owner or "")})


def _overdue_or_due_soon(now: dt.datetime, window: int) -> pw.Expression:
    """The states of interest as an index range, then "overdue, or due before the window ends" as a CASE:
    written as an OR, SQLite searches two indexes and then looks every matching row up in the table."""
    soon = now + dt.timedelta(days=window)
    wanted = pw.Case(None, [(EvidenceRequest.status == "overdue", pw.SQL("1")),
                            (EvidenceRequest.due_at < soon, pw.SQL("1"))], pw.SQL("0"))
    return EvidenceRequest.status.in_(("overdue", *OWED)) & (wanted == pw.SQL("1"))


def days_overdue(due_at: dt.datetime, now: dt.datetime) -> int:
    """Whole days since the due instant; 0 while it is not yet due."""
    return max(0, (now - due_at).days)


def days_to_due(due_at: dt.datetime, now: dt.datetime) -> int:
    """Whole days left until the due instant; 0 once it has passed."""
    return max(0, (due_at - now).days)


def overdue_dashboard(user: User, filters: Filters, *, page: int = 1, per_page: int = 50,
                      now: dt.datetime | None = None) -> Dashboard:
    now = now or utcnow()
    base = in_scope(user, filters)
    current = base.where(_overdue_or_due_soon(now, filters.window))
    by_status = register.status_counts(current)
    return Dashboard(now=now, filters=filters, total=sum(by_status.values()),
                     items=item_page(current, filters.sort, page, per_page), by_status=by_status,
                     by_aging=aging(base, now), heatmap=heatmap(user, current), trend=trend(base, now))


def all_items(user: User, filters: Filters, now: dt.datetime) -> list[EvidenceRequest]:
    """Every overdue and due-soon request the filters select, in the chosen order (for exports)."""
    query = in_scope(user, filters).where(_overdue_or_due_soon(now, filters.window))
    return list(_with_names(query).order_by(*register.REQUEST_SORTS[filters.sort][1]))


def _with_names(query: pw.ModelSelect) -> pw.ModelSelect:
    return (register.requests_with_names(query).select_extend(Engagement.id, Engagement.name, Engagement.timezone)
            .switch(EvidenceRequest).join(Engagement, attr="engagement"))


def item_page(query: pw.ModelSelect, sort: str, page: int, per_page: int) -> list[EvidenceRequest]:
    """One page of requests with engagement, control and requirement joined in.

    Two steps: the page's ids first (ordered over the covering index, joining only what the sort needs),
    then those rows with their names, so the joins touch one page and not every overdue request.
    """
    ids = query.select(EvidenceRequest.id)
    if sort == "engagement":
        ids = ids.join(Engagement, on=(EvidenceRequest.engagement == Engagement.id))
    elif sort == "control":
        ids = ids.join(Control, on=(EvidenceRequest.control == Control.id))
    wanted = [row_id for (row_id,) in ids.order_by(*register.REQUEST_SORTS[sort][1]).paginate(page, per_page)
              .tuples()]
    if not wanted:
        return []
    rows = {r.id: r for r in _with_names(EvidenceRequest.select().where(EvidenceRequest.id.in_(wanted)))}
    return [rows[row_id] for row_id in wanted]


def owners_of(requests: list[EvidenceRequest]) -> dict[int, str]:
    """Request id -> e-mail of the owner of its Statement of Applicability row, for a page of requests
    (one query)."""
    if not requests:
        return {}
    pairs = {(r.engagement_id, r.control_id) for r in requests}
    rows = (Applicability.select(Applicability.engagement, Applicability.control, User.email)
            .join(User, on=(Applicability.owner == User.id))
            .where(pw.Tuple(Applicability.engagement, Applicability.control).in_(list(pairs))).tuples())
    email_of = {(engagement, control): email for engagement, control, email in rows}
    return {r.id: email_of[(r.engagement_id, r.control_id)] for r in requests
            if (r.engagement_id, r.control_id) in email_of}


def aging(base: pw.ModelSelect, now: dt.datetime) -> dict[str, int]:
    """Overdue requests by whole days past due: every bucket present, zeros included."""
    bucket = pw.Case(None, [(EvidenceRequest.due_at > now - dt.timedelta(days=last + 1), label)
                            for label, _first, last in AGING if last is not None], AGING[-1][0])
    rows = (base.select(bucket.alias("bucket"), pw.fn.COUNT(EvidenceRequest.id))
            .where(EvidenceRequest.status == "overdue").group_by(pw.SQL("1")).tuples())
    counts = dict(rows)
    return {label: counts.get(label, 0) for label, _first, _last in AGING}


def _control_frameworks() -> pw.ModelSelect:
    """(control, framework) once per pair, over live mappings (a small derived table)."""
    return (ControlObligation.select(ControlObligation.control.alias("control_id"),
                                     Obligation.framework.alias("framework_id"))
            .join(Obligation).where(ControlObligation.retired_in.is_null()).distinct())


def heatmap(user: User, current: pw.ModelSelect) -> list[dict]:
    """Overdue and due-soon counts per engagement × framework in scope of the engagement (one query).

    The requests are first counted per engagement and control (over the covering index), and only those
    groups are joined to the control's frameworks. A request counts once in each framework its control
    maps to, so the columns may add up to more than the number of requests.
    """
    is_overdue = pw.Case(None, [(EvidenceRequest.status == "overdue", pw.SQL("1"))], pw.SQL("0"))
    groups = (current.select(EvidenceRequest.engagement.alias("engagement_id"),
                             EvidenceRequest.control.alias("control_id"),
                             pw.fn.SUM(is_overdue).alias("overdue"), pw.fn.COUNT(EvidenceRequest.id).alias("total"))
              .group_by(EvidenceRequest.engagement, EvidenceRequest.control).alias("g"))
    pairs = _control_frameworks().alias("cf")
    rows = (Engagement.select(groups.c.engagement_id, Engagement.name, Framework.code,
                              pw.fn.SUM(groups.c.overdue), pw.fn.SUM(groups.c.total))
            .from_(groups)
            .join(Engagement, on=(Engagement.id == groups.c.engagement_id))
            .join(pairs, on=(pairs.c.control_id == groups.c.control_id))
            .join(EngagementFramework, on=((EngagementFramework.engagement == groups.c.engagement_id)
                                           & (EngagementFramework.framework == pairs.c.framework_id)))
            .join(Framework, on=(Framework.id == EngagementFramework.framework))
            .group_by(groups.c.engagement_id, Engagement.name, Framework.code)
            .order_by(Engagement.name, Framework.code).tuples())
    readable = scope.readable_frameworks_by_engagement(user)  # an auditor's columns: its grants' frameworks
    return [{"engagement_id": engagement_id, "engagement": name, "framework": code, "overdue": int(overdue or 0),
             "due_soon": int(total) - int(overdue or 0)} for engagement_id, name, code, overdue, total in rows
            if readable is None or code in readable.get(engagement_id, ())]


def _month(year: int, month: int, offset: int) -> dt.datetime:
    index = year * 12 + month - 1 + offset
    return dt.datetime(index // 12, index % 12 + 1, 1)


def month_starts(now: dt.datetime, months: int = TREND_MONTHS) -> list[dt.datetime]:
    """The first instants (UTC) of the last ``months`` calendar months, this one last, then the next month's."""
    return [_month(now.year, now.month, offset) for offset in range(1 - months, 2)]


def trend(base: pw.ModelSelect, now: dt.datetime) -> list[dict]:
    """For each of the last 12 months (by due date): how many of the requests that fell due then are
    accepted, and how many are still overdue (one grouped query)."""
    bounds = month_starts(now)
    month = pw.Case(None, [(EvidenceRequest.due_at < end, start.strftime("%Y-%m"))
                           for start, end in zip(bounds, bounds[1:], strict=False)], None)
    rows = (base.select(month.alias("month"), EvidenceRequest.status, pw.fn.COUNT(EvidenceRequest.id))
            .where(EvidenceRequest.status.in_(("accepted", "overdue")),
                   EvidenceRequest.due_at >= bounds[0], EvidenceRequest.due_at < bounds[-1])
            .group_by(pw.SQL("1"), EvidenceRequest.status).tuples())
    counts = {(m, status): n for m, status, n in rows}
    return [{"month": start.strftime("%Y-%m"), "accepted": counts.get((start.strftime("%Y-%m"), "accepted"), 0),
             "overdue": counts.get((start.strftime("%Y-%m"), "overdue"), 0)} for start in bounds[:-1]]


# ---------------------------------------------------------------- the filter form's choices

def filter_choices(user: User) -> dict[str, list]:
    """What the filter form offers: the caller's engagements, the live frameworks, the controls and the
    owners named on the caller's Statement of Applicability rows (four queries)."""
    engagements = list(scope.engagements_for(user).select(Engagement.id, Engagement.name).order_by(Engagement.name)
                       .tuples())
    owners = list(User.select(User.id, User.email)
                  .where(User.id.in_(Applicability.select(Applicability.owner)
                                     .where(Applicability.engagement.in_(
                                         scope.engagements_for(user).select(Engagement.id)),
                                         Applicability.owner.is_null(False))))
                  .order_by(User.email).tuples())
    return {"engagements": engagements,
            "frameworks": [f.code for f in scope.library_frameworks(user)],
            "controls": list(scope.library_controls(user).select(Control.code, Control.title)
                             .order_by(Control.code).tuples()),
            "owners": owners, "windows": list(WINDOWS),
            "sorts": [(name, register.REQUEST_SORTS[name][0]) for name in SORTS]}
