"""The overdue dashboard: what is overdue or due soon across the caller's engagements (SPEC §5
``GET /dashboard/overdue``), its summary (by status, aging bucket, engagement × framework) and a
12-month trend.

Everything is counted in SQL and the item list is one bounded page, so the number of statements stays the
same however many requests there are. What grows with history (every overdue request, every accepted one of
the last 12 months) is read from ``RequestTally``, which database triggers keep equal to the grouped count of
the requests (migration 011): a few rows per engagement instead of every request. Only the requests due soon
and the recently overdue (a bounded window of time) are counted live. A filter the tally cannot answer
(control, owner) or a caller who sees only part of an engagement (an auditor) counts everything live, over the
same definitions (``live_dashboard``); tests/test_dashboard_tally.py checks both give the same numbers.
Scope comes from ``services.scope`` alone.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import peewee as pw

from domain.errors import ValidationError
from models import (
    TALLIED_STATES,
    Control,
    ControlObligation,
    Engagement,
    EngagementFramework,
    EvidenceRequest,
    Framework,
    Obligation,
    RequestTally,
    User,
    is_postgres,
    utcnow,
)
from services import scope

from . import queries

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
        queries.controls_in_framework(scope.readable_framework(user, args["framework"]))  # validates
    return Filters(engagement=queries.parse_id(args.get("engagement"), "engagement"),
                   framework=args.get("framework", ""), control=args.get("control", ""),
                   owner=user.id if args.get("owner") == "me" else queries.parse_id(args.get("owner"), "owner"),
                   window=int(window),
                   sort=queries.parse_sort(args.get("sort"), SORTS))


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
    return queries.narrow_requests(user, query, {"control": filters.control, "framework": filters.framework,
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
    """The dashboard: from the tally where it can answer, else counted live (same numbers either way)."""
    now = now or utcnow()
    engagements = _tally_scope(user, filters)
    if engagements is None:
        return live_dashboard(user, filters, page=page, per_page=per_page, now=now)
    base = EvidenceRequest.select().where(EvidenceRequest.engagement.in_(engagements))
    if filters.engagement is not None:  # said outright too, so SQLite reads that engagement's index range
        base = base.where(EvidenceRequest.engagement == filters.engagement)
    if filters.framework:  # one IN on the engagement (scope, filter and framework in one): see _tally_scope
        base = base.where(EvidenceRequest.control.in_(queries.controls_in_framework(filters.framework)))
    soon = _due_soon(base, now, filters.window)
    framework = _framework_id(filters)
    overdue = _tallied(engagements, framework).where(RequestTally.status == "overdue", RequestTally.month == "")
    overdue_total = int(overdue.select(pw.fn.COALESCE(pw.fn.SUM(RequestTally.n), 0)).scalar() or 0)
    by_status = {status: n for status, n in ({"overdue": overdue_total} | queries.status_counts(soon)).items() if n}
    heat = _heat_cells(engagements, filters.framework, _heat_groups(soon), _tallied_heat(engagements, framework))
    return Dashboard(now=now, filters=filters, total=sum(by_status.values()),
                     items=item_page_split(base, soon, filters.sort, page, per_page), by_status=by_status,
                     by_aging=recent_aging(base, now, overdue_total), heatmap=heat,
                     trend=tallied_trend(engagements, framework, now))


def live_dashboard(user: User, filters: Filters, *, page: int = 1, per_page: int = 50,
                   now: dt.datetime | None = None) -> Dashboard:
    """The dashboard counted from the requests themselves (every overdue and accepted one): what the tally
    stands for, and the path of the filters and callers it cannot answer."""
    now = now or utcnow()
    base = in_scope(user, filters)
    current = base.where(_overdue_or_due_soon(now, filters.window))
    by_status = queries.status_counts(current)
    return Dashboard(now=now, filters=filters, total=sum(by_status.values()),
                     items=item_page(current, filters.sort, page, per_page), by_status=by_status,
                     by_aging=aging(base, now), heatmap=heatmap(user, current, filters), trend=trend(base, now))


def _tally_scope(user: User, filters: Filters) -> pw.ModelSelect | None:
    """The engagement ids whose tally rows make up this view, or None when the tally cannot answer it: the
    caller's whole engagements (``scope.whole_engagements_for``) narrowed by the engagement filter and, with a
    framework filter, to those with the framework in scope (as ``queries.narrow_requests``). The live part
    of the fast path selects its requests with this one IN as well (two IN lists on the engagement lead
    SQLite, which keeps no statistics here, to an index without the status)."""
    if filters.control or filters.owner is not None:
        return None
    engagements = scope.whole_engagements_for(user)
    if engagements is None:
        return None
    if filters.engagement is not None:
        engagements = engagements.where(Engagement.id == filters.engagement)
    if filters.framework:  # as queries.narrow_requests: the engagement has the framework in scope
        engagements = engagements.where(Engagement.id.in_(
            EngagementFramework.select(EngagementFramework.engagement).join(Framework)
            .where(Framework.code == filters.framework)))
    return engagements


def _framework_id(filters: Filters) -> int:
    """The tally's framework column for the filter: 0 (every request once) or the framework's id."""
    if not filters.framework:
        return 0
    return queries.live_frameworks().where(Framework.code == filters.framework).get().id


def _tallied(engagements: pw.ModelSelect, framework: int) -> pw.ModelSelect:
    return RequestTally.select().where(RequestTally.framework_id == framework,
                                       RequestTally.engagement.in_(engagements))


def _due_soon(base: pw.ModelSelect, now: dt.datetime, window: int) -> pw.ModelSelect:
    """Requests the provider still owes that fall due before the window ends (a short range of due dates)."""
    return base.where(EvidenceRequest.status.in_(OWED), EvidenceRequest.due_at < now + dt.timedelta(days=window))


def all_items(user: User, filters: Filters, now: dt.datetime) -> list[EvidenceRequest]:
    """Every overdue and due-soon request the filters select, in the chosen order (for exports)."""
    query = in_scope(user, filters).where(_overdue_or_due_soon(now, filters.window))
    return list(_with_names(query).order_by(*queries.REQUEST_SORTS[filters.sort][1]))


def _with_names(query: pw.ModelSelect) -> pw.ModelSelect:
    return (queries.requests_with_names(query).select_extend(Engagement.id, Engagement.name, Engagement.timezone)
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
    wanted = [row_id for (row_id,) in ids.order_by(*queries.REQUEST_SORTS[sort][1]).paginate(page, per_page)
              .tuples()]
    if not wanted:
        return []
    rows = {r.id: r for r in _with_names(EvidenceRequest.select().where(EvidenceRequest.id.in_(wanted)))}
    return [rows[row_id] for row_id in wanted]


def _sort_key(sort: str):
    """The Python order of ``queries.REQUEST_SORTS[sort]`` over (id, due_at, status, engagement, control) rows."""
    if sort == "-due":
        return lambda r: (r[1], r[0]), True
    extra = {"due": lambda r: (), "status": lambda r: (r[2],), "engagement": lambda r: (r[3],),
             "control": lambda r: (r[4],)}[sort]
    return (lambda r: (*extra(r), r[1], r[0])), False


def item_page_split(base: pw.ModelSelect, soon: pw.ModelSelect, sort: str, page: int,
                    per_page: int) -> list[EvidenceRequest]:
    """``item_page`` of overdue ∪ due soon, without sorting every overdue request: the first
    ``page × per_page`` of each part in the chosen order (each read in index order, a top-N), merged here."""
    wanted = page * per_page
    parts = []
    for query in (base.where(EvidenceRequest.status == "overdue"), soon):
        rows = query.select(EvidenceRequest.id, EvidenceRequest.due_at, EvidenceRequest.status,
                            Engagement.name if sort == "engagement" else pw.Value(""),
                            Control.code if sort == "control" else pw.Value(""))
        if sort == "engagement":
            rows = rows.join(Engagement, on=(EvidenceRequest.engagement == Engagement.id))
        elif sort == "control":
            rows = rows.join(Control, on=(EvidenceRequest.control == Control.id))
        parts.extend(rows.order_by(*queries.REQUEST_SORTS[sort][1]).limit(wanted).tuples())
    key, reverse = _sort_key(sort)
    ids = [r[0] for r in sorted(parts, key=key, reverse=reverse)[wanted - per_page:wanted]]
    if not ids:
        return []
    rows = {r.id: r for r in _with_names(EvidenceRequest.select().where(EvidenceRequest.id.in_(ids)))}
    return [rows[row_id] for row_id in ids]


def owners_of(requests: list[EvidenceRequest]) -> dict[int, str]:
    """Request id -> e-mail of its owner (who must deliver it), for a page of requests (one query)."""
    ids = {r.owner_id for r in requests if r.owner_id}
    emails = dict(User.select(User.id, User.email).where(User.id.in_(ids)).tuples()) if ids else {}
    return {r.id: emails[r.owner_id] for r in requests if r.owner_id in emails}


def aging(base: pw.ModelSelect, now: dt.datetime) -> dict[str, int]:
    """Overdue requests by whole days past due: every bucket present, zeros included."""
    bucket = pw.Case(None, [(EvidenceRequest.due_at > now - dt.timedelta(days=last + 1), label)
                            for label, _first, last in AGING if last is not None], AGING[-1][0])
    rows = (base.select(bucket.alias("bucket"), pw.fn.COUNT(EvidenceRequest.id))
            .where(EvidenceRequest.status == "overdue").group_by(pw.SQL("1")).tuples())
    counts = dict(rows)
    return {label: counts.get(label, 0) for label, _first, _last in AGING}


def recent_aging(base: pw.ModelSelect, now: dt.datetime, overdue_total: int) -> dict[str, int]:
    """``aging`` from the overdue total and a live count of the requests overdue for at most 90 days (a
    bounded range of due dates): the last bucket is what is left."""
    recent = base.where(EvidenceRequest.due_at > now - dt.timedelta(days=AGING[-2][2] + 1))
    counts = aging(recent, now)
    counts[AGING[-1][0]] = overdue_total - sum(n for label, n in counts.items() if label != AGING[-1][0])
    return counts


def _control_frameworks() -> pw.ModelSelect:
    """(control, framework) once per pair, over live mappings (a small derived table)."""
    return (ControlObligation.select(ControlObligation.control.alias("control_id"),
                                     Obligation.framework.alias("framework_id"))
            .join(Obligation).where(ControlObligation.retired_in.is_null()).distinct())


def _heat_groups(current: pw.ModelSelect) -> list[tuple]:
    """(engagement id, framework id, overdue, total) of the requests, a request counted once in each
    framework its control maps to (one grouped query: the live mappings are a small derived table; which
    frameworks an engagement has in scope, and their names, ``_heat_cells`` adds)."""
    is_overdue = pw.Case(None, [(EvidenceRequest.status == "overdue", pw.SQL("1"))], pw.SQL("0"))
    pairs = _control_frameworks().alias("cf")
    return _raw_rows(current.select(EvidenceRequest.engagement, pairs.c.framework_id, pw.fn.SUM(is_overdue),
                                    pw.fn.COUNT(EvidenceRequest.id))
                     .join(pairs, on=(pairs.c.control_id == EvidenceRequest.control))
                     .group_by(EvidenceRequest.engagement, pairs.c.framework_id))


def _tallied_heat(engagements: pw.ModelSelect, framework: int) -> list[tuple]:
    """The overdue part of the heat map from the tally: (engagement id, framework id, overdue, overdue), read
    from the covering index (migration 014)."""
    query = (RequestTally.select(RequestTally.engagement, RequestTally.framework_id, RequestTally.n, RequestTally.n)
             .where(RequestTally.status == "overdue", RequestTally.month == "", RequestTally.n > 0,
                    RequestTally.engagement.in_(engagements)))
    if framework:
        query = query.where(RequestTally.framework_id == framework)
    else:
        query = query.where(RequestTally.framework_id != 0)
    return _raw_rows(query)


def _raw_rows(query: pw.ModelSelect) -> list[tuple]:
    """The rows as the driver returns them: a heat map has a cell per engagement × framework (thousands at
    scale), plain ints and names that need none of peewee's per-row conversion."""
    return list(query.model._meta.database.execute(query).fetchall())


def _heat_cells(engagements: pw.ModelSelect, framework: str, *parts: list[tuple]) -> list[dict]:
    """Heat map cells, engagement × framework in scope of the engagement, from parts of (engagement id,
    framework id, overdue, total) rows (the live groups, the tally's) added up, ordered by engagement name
    and framework; with a framework filter, that framework's column only. The engagements' frameworks and
    names come from one small read instead of being joined onto every group."""
    in_scope = (EngagementFramework.select(EngagementFramework.engagement, EngagementFramework.framework,
                                           Engagement.name, Framework.code)
                .join(Engagement).switch(EngagementFramework).join(Framework)
                .where(EngagementFramework.engagement.in_(engagements)))
    if framework:
        in_scope = in_scope.where(Framework.code == framework)
    names = {(engagement_id, framework_id): (name, code) for engagement_id, framework_id, name, code
             in _raw_rows(in_scope)}
    overdue_of: dict[tuple, int] = defaultdict(int)
    total_of: dict[tuple, int] = defaultdict(int)
    for engagement_id, framework_id, overdue, total in (row for part in parts for row in part):
        if (engagement_id, framework_id) in names:
            overdue_of[engagement_id, framework_id] += int(overdue or 0)
            total_of[engagement_id, framework_id] += int(total or 0)
    rows = sorted((*names[key], key[0], overdue_of[key], total) for key, total in total_of.items())
    return [{"engagement_id": engagement_id, "engagement": name, "framework": code, "overdue": overdue,
             "due_soon": total - overdue} for name, code, engagement_id, overdue, total in rows]


def heatmap(user: User, current: pw.ModelSelect, filters: Filters | None = None) -> list[dict]:
    """Overdue and due-soon counts per engagement × framework in scope of the engagement (``_heat_cells``);
    an auditor's columns are its grants' frameworks only."""
    filters = filters or Filters()
    engagements = scope.engagements_for(user).select(Engagement.id)
    cells = _heat_cells(engagements, filters.framework, _heat_groups(current))
    readable = scope.readable_frameworks_by_engagement(user)
    return [c for c in cells if readable is None or c["framework"] in readable.get(c["engagement_id"], ())]


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


def tallied_trend(engagements: pw.ModelSelect, framework: int, now: dt.datetime) -> list[dict]:
    """``trend`` from the tally's monthly rows (one grouped query over at most 12 × 2 rows per engagement)."""
    months = [start.strftime("%Y-%m") for start in month_starts(now)[:-1]]
    rows = (_tallied(engagements, framework)
            .select(RequestTally.month, RequestTally.status, pw.fn.SUM(RequestTally.n))
            .where(RequestTally.month.in_(months), RequestTally.status.in_(TALLIED_STATES))
            .group_by(RequestTally.month, RequestTally.status).tuples())
    counts = {(m, status): int(n) for m, status, n in rows}
    return [{"month": m, "accepted": counts.get((m, "accepted"), 0), "overdue": counts.get((m, "overdue"), 0)}
            for m in months]


def rebuild_tally() -> int:
    """Recount ``RequestTally`` from the requests (when the library's control → framework mappings change,
    which the triggers do not follow); returns how many rows it holds. Run inside the caller's transaction."""
    RequestTally.delete().execute()
    pairs = _control_frameworks().alias("cf")
    rows = (EvidenceRequest.select(EvidenceRequest.engagement.alias("engagement_id"),
                                   pw.Value(0).alias("framework_id"), EvidenceRequest.status, EvidenceRequest.due_at)
            .where(EvidenceRequest.status.in_(TALLIED_STATES))
            .union_all(EvidenceRequest.select(EvidenceRequest.engagement, pairs.c.framework_id,
                                              EvidenceRequest.status, EvidenceRequest.due_at)
                       .join(pairs, on=(pairs.c.control_id == EvidenceRequest.control))
                       .where(EvidenceRequest.status.in_(TALLIED_STATES)))).alias("t")
    keys = (rows.c.engagement_id, rows.c.framework_id, rows.c.status)
    for month, by in ((_month_of(rows.c.due_at), (_month_of(rows.c.due_at),)), (pw.Value(""), ())):
        grouped = (RequestTally.select(*keys, month, pw.fn.COUNT(pw.SQL("*"))).from_(rows).group_by(*keys, *by))
        columns = [RequestTally.engagement, RequestTally.framework_id, RequestTally.status, RequestTally.month,
                   RequestTally.n]
        RequestTally.insert_from(grouped, columns).execute()
    return RequestTally.select().count()


def _month_of(column) -> pw.Node:
    """"YYYY-MM" of a UTC timestamp column, as the triggers write it."""
    return pw.fn.to_char(column, "YYYY-MM") if is_postgres() else pw.fn.substr(column, 1, 7)


# ---------------------------------------------------------------- the filter form's choices

def filter_choices(user: User) -> dict[str, list]:
    """What the filter form offers: the caller's engagements, the live frameworks, the controls and the
    people who own requests of the caller's engagements (four queries)."""
    engagements = list(scope.engagements_for(user).select(Engagement.id, Engagement.name).order_by(Engagement.name)
                       .tuples())
    # per user "owns a request of mine" (the owner index; stops at the first), not every request of every engagement
    owns = EvidenceRequest.select(pw.SQL("1")).where(EvidenceRequest.owner == User.id, EvidenceRequest.engagement.in_(
        scope.engagements_for(user).select(Engagement.id)))
    owners = list(User.select(User.id, User.email).where(pw.fn.EXISTS(owns)).order_by(User.email).tuples())
    return {"engagements": engagements,
            "frameworks": [f.code for f in scope.library_frameworks(user)],
            "controls": list(scope.library_controls(user).select(Control.code, Control.title)
                             .order_by(Control.code).tuples()),
            "owners": owners, "windows": list(WINDOWS),
            "sorts": [(name, queries.REQUEST_SORTS[name][0]) for name in SORTS]}
