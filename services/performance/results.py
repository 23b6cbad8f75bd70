"""KPI results (SPEC §8): submitted by the provider by form, API or a CSV/XLSX import (one all-or-nothing
transaction, every bad row reported with its line), with the source extract's SHA-256; reviewed by the client
(accept, reject with a reason so the provider resubmits a new version, or excuse with a reason). An accepted
result is judged against the KPI version in effect for its period, and volume relief applies to the misses of
volume-sensitive KPIs in a month above the forecast band."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import openpyxl
import peewee as pw
import psycopg2.extras

from domain import performance as rules
from domain.bulk import parse_bulk
from domain.errors import Conflict, ValidationError
from models import (
    Engagement,
    Evidence,
    Kpi,
    KpiResult,
    KpiVersion,
    User,
    db,
    is_postgres,
    serialise_writers,
    transaction,
    utcnow,
)
from services import scope
from services.audit import audit_log
from services.bulk import decide_all
from services.text import clean_text

from . import credits, ladder
from .kpis import in_effect, kpis_of, levels, today_in, versions_by_kpi
from .settings import months_of, settings_of

MAX_ROWS = 50_000
COLUMNS = ("kpi", "period", "value", "volume")
CHUNK = 500


class RowErrors(ValidationError):
    """Some rows are bad: nothing was stored. ``rows`` lists (line, message) for every bad row."""

    def __init__(self, rows: list[tuple[int, str]], *, duplicates_only: bool = False):
        shown = "; ".join(f"line {line}: {message}" for line, message in rows[:20])
        more = f" (and {len(rows) - 20} more)" if len(rows) > 20 else ""
        super().__init__(f"{len(rows)} bad row(s), nothing was stored: {shown}{more}", field="results")
        self.rows = rows
        if duplicates_only:
            self.status, self.code = 409, "conflict"


@dataclass
class Row:
    line: int
    kpi: object
    period: object
    value: object
    volume: object = None


# --------------------------------------------------------------------------- reading a file

def rows_from_file(data: bytes) -> list[Row]:
    """The rows of a CSV (UTF-8) or XLSX file with the columns ``kpi``, ``period``, ``value``, ``volume``."""
    if data.startswith(b"PK\x03\x04"):
        return _xlsx_rows(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("the file must be CSV (UTF-8) or XLSX", field="file") from None
    reader = csv.reader(io.StringIO(text))
    return _rows(reader)


def _xlsx_rows(data: bytes) -> list[Row]:
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise ValidationError("the file is not a readable XLSX workbook", field="file") from None
    try:
        return _rows(book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()


def _rows(lines) -> list[Row]:
    iterator = iter(lines)
    header = next(iterator, None)
    names = [str(h).strip().lower() if h is not None else "" for h in (header or [])]
    missing = [c for c in COLUMNS[:3] if c not in names]
    if missing:
        raise ValidationError(f"line 1 must name the columns kpi, period, value (and volume); missing "
                              f"{', '.join(missing)}", field="file")
    index = {c: names.index(c) for c in COLUMNS if c in names}
    rows = []
    for number, cells in enumerate(iterator, start=2):
        cells = list(cells)
        if not any(c not in (None, "") for c in cells):
            continue
        if len(rows) >= MAX_ROWS:
            raise ValidationError(f"at most {MAX_ROWS} rows per import", field="file")
        get = {c: (cells[i] if i < len(cells) else None) for c, i in index.items()}
        rows.append(Row(number, get["kpi"], _period_cell(get["period"]), get["value"], get.get("volume")))
    if not rows:
        raise ValidationError("the file holds no rows", field="file")
    return rows


def _period_cell(value: object) -> object:
    """A spreadsheet may have turned ``2026-03`` into a date: read it back as the month."""
    if isinstance(value, dt.datetime | dt.date):
        return f"{value.year:04d}-{value.month:02d}"
    return value.strip() if isinstance(value, str) else value


# --------------------------------------------------------------------------- submitting

def rows_from_json(data: dict) -> list[Row]:
    """``{"period": ..., "results": [{"kpi", "value", "volume"}]}`` (a row may give its own ``period``)."""
    items = data.get("results")
    if not isinstance(items, list) or not items:
        raise ValidationError("results must be a non-empty list of {kpi, value, volume}", field="results")
    if len(items) > MAX_ROWS:
        raise ValidationError(f"at most {MAX_ROWS} results at once", field="results")
    rows = []
    for number, item in enumerate(items, start=1):
        item = item if isinstance(item, dict) else {}
        rows.append(Row(number, item.get("kpi"), item.get("period", data.get("period")), item.get("value"),
                        item.get("volume")))
    return rows


def _evidence(actor: User, engagement: Engagement, evidence_id: object) -> Evidence | None:
    if evidence_id in (None, ""):
        return None
    evidence = scope.evidence_for(actor, evidence_id)  # NotFound outside the caller's scope
    if evidence.request.engagement_id != engagement.id:
        raise ValidationError("the source extract must be evidence of this engagement", field="evidence_id")
    return evidence


def submit(actor: User, engagement_id: int | str, rows: list[Row], *, evidence_id: object = None,
           extract_sha256: str = "", ip: str = "", now: dt.datetime | None = None) -> list[KpiResult]:
    """Store every row as a submitted result, or nothing: RowErrors names each bad row."""
    engagement = scope.performance_engagement(actor, engagement_id, "submit_kpi_results")
    evidence = _evidence(actor, engagement, evidence_id)
    now = now or utcnow()
    with transaction():
        serialise_writers(f"kpi-results:{engagement.id}")  # the duplicate check and the insert, one at a time
        records = _validated(engagement, rows, today_in(engagement, now))
        sha = evidence.sha256 if evidence else extract_sha256
        base = {"engagement": engagement, "evidence": evidence, "evidence_sha256": sha, "submitted_by": actor,
                "submitted_at": now, "state": "submitted"}
        last = KpiResult.select(pw.fn.MAX(KpiResult.id)).scalar() or 0
        try:
            _insert_rows(base, records)
        except (pw.IntegrityError, psycopg2.IntegrityError):
            raise Conflict("a result for one of these KPIs and periods was submitted meanwhile; nothing was stored",
                           field="results") from None
        stored = _stored(base, records, last)
        audit_log.record("kpi_result.submit", actor=actor, object_type="engagement", object_id=engagement.id,
                         engagement=engagement, ip=ip,
                         details={"count": len(stored), "periods": sorted({r["period"] for r in records})[:50],
                                  "source_sha256": sha, "evidence_id": evidence.id if evidence else None})
    return stored


def _insert_rows(base: dict, records: list[dict]) -> None:
    """One prepared INSERT run for every row (inside the caller's transaction): building a peewee query per
    chunk costs more than the database's own work for an import of thousands of rows. The columns every row
    shares (``base`` and the defaults) are converted once."""
    fields = [f for f in KpiResult._meta.sorted_fields if f.name != "id"]
    shared = {f.name: f.db_value(base[f.name] if f.name in base else f.default() if callable(f.default)
                                 else f.default) for f in fields if f.name not in records[0]}
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    marks = ", ".join([db.obj.param] * len(fields))
    sql = f'INSERT INTO "{KpiResult._meta.table_name}" ({columns}) VALUES ({marks})'  # noqa: S608 - names only
    template = [shared.get(f.name) for f in fields]
    converters = [(i, f.name, f.db_value) for i, f in enumerate(fields) if f.name in records[0]]
    params = []
    for record in records:
        values = template.copy()
        for position, name, convert in converters:
            values[position] = convert(record[name])
        params.append(tuple(values))
    cursor = db.cursor()
    if is_postgres():
        _copy(cursor, f'"{KpiResult._meta.table_name}" ({columns})', params)
    else:
        cursor.executemany(sql, params)


def _copy(cursor, target: str, params: list[tuple]) -> None:
    """PostgreSQL: the rows in one ``COPY … FROM STDIN`` (CSV), which skips psycopg2's adaptation of every value
    that a parameterised INSERT pays row by row. Every column written here is a number, a date, a time, a flag or
    text the import checked (no value can be ``\\N``, the NULL marker)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for values in params:
        writer.writerow([_copy_text(v) for v in values])
    buffer.seek(0)
    cursor.copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)


def _copy_text(value: object) -> object:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _stored(base: dict, records: list[dict], last: int) -> list[KpiResult]:
    """The rows just inserted, built here from what was written and the ids the database gave (read back as bare
    ids: loading thousands of full rows again costs more than the insert). The caller holds the engagement's
    submission lock, so these are exactly its rows, in insertion order."""
    engagement, actor, now = base["engagement"], base["submitted_by"], base["submitted_at"]
    ids = [i for (i,) in KpiResult.select(KpiResult.id).where(
        KpiResult.id > last, KpiResult.engagement == engagement.id, KpiResult.submitted_at == now,
        KpiResult.submitted_by == actor.id).order_by(KpiResult.id).tuples()]
    if len(ids) != len(records):
        raise Conflict("results were submitted meanwhile; nothing was stored", field="results")
    related = {name: base[name] for name in ("engagement", "evidence", "submitted_by") if base[name] is not None}
    shared = {**KpiResult._meta.get_default_dict(), **base, **{name: obj.id for name, obj in related.items()}}
    return [_instance({**shared, **record, "id": result_id, "kpi": record["kpi"].id},
                      {**related, "kpi": record["kpi"]}) for result_id, record in zip(ids, records, strict=True)]


def _instance(data: dict, related: dict) -> KpiResult:
    """A KpiResult from its column values and its related rows, as peewee builds one from a cursor row (without
    a descriptor call per field: ten thousand of them add up to seconds)."""
    row = KpiResult(__no_default__=1)
    row.__data__, row.__rel__, row._dirty = data, related, set()
    return row


def _validated(engagement: Engagement, rows: list[Row], today: dt.date) -> list[dict]:
    kpis = {k.code.lower(): k for k in kpis_of(engagement)}
    periods = {str(r.period) for r in rows if isinstance(r.period, str)}
    existing: dict[tuple[int, str], list[KpiResult]] = {}
    if periods and kpis:
        for result in KpiResult.select(KpiResult.kpi, KpiResult.period, KpiResult.state, KpiResult.n).where(
                KpiResult.engagement == engagement.id, KpiResult.period.in_(sorted(periods))):
            existing.setdefault((result.kpi_id, result.period), []).append(result)
    errors: list[tuple[int, str]] = []
    duplicates = 0
    seen: dict[tuple[int, str], int] = {}
    checked: dict[tuple[str, str], rules.Period | str] = {}
    records = []
    for row in rows:
        try:
            kpi = kpis.get(row.kpi.strip().lower()) if isinstance(row.kpi, str) else None
            if kpi is None:
                raise ValidationError(f"unknown KPI {str(row.kpi)[:40]!r} on this engagement")
            period = _checked_period(checked, row.period, kpi.period, engagement.start_date, today)
            value = rules.parse_decimal(row.value, "value")
            rules.check_value(kpi.unit, value)
            volume = None if row.volume in (None, "") else rules.parse_count(row.volume, "volume")
            key = (kpi.id, period.text)
            if key in seen:
                raise Conflict(f"{kpi.code} {period.text} appears twice (first on line {seen[key]})")
            earlier = existing.get(key, [])
            if any(r.state != "rejected" for r in earlier):
                raise Conflict(f"{kpi.code} already has a result for {period.text}; a new version follows only a "
                               "rejection")
        except ValidationError as exc:
            errors.append((row.line, exc.message))
            continue
        except Conflict as exc:
            errors.append((row.line, exc.message))
            duplicates += 1
            continue
        seen[key] = row.line
        records.append({"kpi": kpi, "period": period.text, "period_start": period.start, "month": period.month,
                        "n": max((r.n for r in earlier), default=0) + 1, "value": value, "volume": volume})
    if errors:
        raise RowErrors(errors, duplicates_only=duplicates == len(errors))
    return records


def _checked_period(checked: dict[tuple[str, str], rules.Period | str], text: object, kind: str,
                    start: dt.date, today: dt.date) -> rules.Period:
    """A row's period parsed and checked once per import (thousands of rows share a few dozen periods); a bad one
    is remembered by its message."""
    if not isinstance(text, str):
        return rules.parse_period(text, kind)  # not text: refused (uncached, it may be a list or a dict)
    key = (text, kind)
    if key not in checked:
        try:
            period = rules.parse_period(text, kind)
            rules.check_result_period(period, engagement_start=start, today=today)
            checked[key] = period
        except ValidationError as exc:
            checked[key] = exc.message
    answer = checked[key]
    if isinstance(answer, str):
        raise ValidationError(answer, field="period")
    return answer


def import_file(actor: User, engagement_id: int | str, data: bytes, *, evidence_id: object = None, ip: str = "",
                now: dt.datetime | None = None) -> list[KpiResult]:
    """An import: the file's own SHA-256 is the source extract's when no evidence item is named."""
    scope.performance_engagement(actor, engagement_id, "submit_kpi_results")
    rows = rows_from_file(data)
    return submit(actor, engagement_id, rows, evidence_id=evidence_id, extract_sha256=hashlib.sha256(data).hexdigest(),
                  ip=ip, now=now)


# --------------------------------------------------------------------------- judging

def _judgement(result: KpiResult, kpi: Kpi, versions: list[KpiVersion], surge: bool) -> dict:
    period = rules.parse_period(result.period, kpi.period)
    version = in_effect(versions, period)
    assert version is not None
    judged = rules.judge(result.value, levels(kpi, version))
    outcome, reason = judged, ""
    if judged == "missed" and kpi.volume_sensitive and surge:
        outcome, reason = "excused", rules.RELIEF_REASON
    return {"version": version.n, "judged": judged, "outcome": outcome, "excuse_reason": reason,
            "critical": version.critical}


def surge_months(engagement: Engagement) -> set[str]:
    tolerance = settings_of(engagement).surge_tolerance_pct
    return {m for m, row in months_of(engagement).items()
            if rules.is_surge(row.actual_volume, row.forecast_volume, tolerance)}


def review(actor: User, result_id: int | str, data: dict, *, ip: str = "",
           now: dt.datetime | None = None) -> KpiResult:
    """accept | reject (reason) | excuse (reason); a decided result answers 409."""
    result = scope.kpi_result_for(actor, result_id, "review_kpi_results")
    data = data if isinstance(data, dict) else {}
    decision = data.get("decision")
    if decision not in rules.RESULT_DECISIONS:
        raise ValidationError("decision must be accept, reject or excuse", field="decision")
    comment = clean_text(data, "comment", required=decision != "accept", limit=2000, multiline=True)
    target = rules.RESULT_DECISIONS[decision]
    rules.check_move(rules.RESULT_TRANSITIONS, result.state, target, "result")
    kpi, engagement = result.kpi, result.engagement
    now = now or utcnow()
    with transaction():
        fields: dict = {"state": target, "reviewed_by": actor.id, "reviewed_at": now, "review_comment": comment}
        critical = False
        if target == "accepted":
            judgement = _judgement(result, kpi, versions_by_kpi([kpi.id])[kpi.id],
                                   result.month in surge_months(engagement))
            critical = judgement.pop("critical")
            fields.update(judgement)
            if decision == "excuse":
                fields.update(outcome="excused", excuse_reason=comment)
        if not KpiResult.update(**fields).where(KpiResult.id == result.id, KpiResult.state == "submitted").execute():
            raise Conflict("this result was reviewed meanwhile", field="decision")
        audit_log.record("kpi_result.review", actor=actor, object_type="kpi_result", object_id=result.id,
                         engagement=engagement, ip=ip,
                         details={"decision": decision, "comment": comment, "kpi": kpi.code, "period": result.period,
                                  "value": str(result.value), "outcome": fields.get("outcome"),
                                  "version": fields.get("version")})
        if target == "accepted":
            credits.recompute(engagement, now)
            ladder.after_acceptance(KpiResult.get_by_id(result.id), critical, now)
    return KpiResult.get_by_id(result.id)


def review_many(actor: User, data: Any, *, ip: str = "", now: dt.datetime | None = None) -> list[KpiResult]:
    """Several submitted results decided at once with one comment (accept; reject or excuse with one reason):
    each is ``review``ed, its own audited decision; one that cannot be decided means none is
    (``services.bulk``, the shape the evidence review queue uses too)."""
    bulk = parse_bulk(data, rules.RESULT_DECISIONS)
    return decide_all(bulk.ids, lambda item: review(actor, item, {"decision": bulk.decision, "comment": bulk.comment},
                                                    ip=ip, now=now), noun="result")


def rejudge(kpi: Kpi, from_start: dt.date, now: dt.datetime) -> int:
    """Judge again the accepted results of ``kpi`` from ``from_start`` on (a rebasing approved), then recompute the
    credits. A relief granted by hand stays."""
    return _rejudge(kpi.engagement, KpiResult.kpi == kpi.id, KpiResult.period_start >= from_start, now=now)


def rejudge_month(engagement: Engagement, month: str, now: dt.datetime) -> int:
    """Volume relief follows the month's volumes: judge its results again."""
    return _rejudge(engagement, KpiResult.month == month, now=now)


def _rejudge(engagement: Engagement, *conditions, now: dt.datetime) -> int:
    surges = surge_months(engagement)
    rows = list(KpiResult.select().where(KpiResult.engagement == engagement.id, KpiResult.state == "accepted",
                                         *conditions))
    kpis = {k.id: k for k in kpis_of(engagement)}
    versions = versions_by_kpi(list({r.kpi_id for r in rows}))
    changed = 0
    with transaction():
        for row in rows:
            if row.outcome == "excused" and row.excuse_reason != rules.RELIEF_REASON:
                continue  # excused by the client with its own reason
            judgement = _judgement(row, kpis[row.kpi_id], versions[row.kpi_id], row.month in surges)
            critical = judgement.pop("critical")
            if any(getattr(row, k) != v for k, v in judgement.items()):
                KpiResult.update(**judgement).where(KpiResult.id == row.id).execute()
                changed += 1
                if judgement["outcome"] == "missed" and row.outcome != "missed":  # rebased, or relief withdrawn
                    ladder.announce_miss(row, kpis[row.kpi_id], engagement, critical, now)
        credits.recompute(engagement, now)
    return changed


def value_text(value: Decimal) -> str:
    """A value as entered, without a float's noise (``80.50`` stays ``80.50``)."""
    return format(value, "f")
