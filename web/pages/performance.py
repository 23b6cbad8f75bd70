"""Contract performance pages (SPEC §8): an engagement's scorecard (KPI × period grid, a trend chart per KPI,
the months' credits), result entry and import, review, KPIs and commercial settings; a KPI's own page with its
definition, versions and results; the client's view across engagements; scorecard and credits as CSV/XLSX."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for

from domain.errors import DomainError, NotFound
from domain.performance import OUTCOMES, golden_set_warning, months_between
from domain.performance_library import catalogue
from services import scope
from services.performance import commercial, credits, kpis, rebasing, results, scorecard
from web import charts, exports
from web.auth import client_ip
from web.pages import bp, bulk_form_data, current

OUTCOME_MARKS = {"met": "✓ met", "below_expected": "~ below expected", "missed": "✗ missed", "excused": "E excused",
                 None: "… awaiting review"}
SCORECARD_HEADERS = ("kpi", "name", "period", "value", "outcome", "state", "expected", "minimum", "version")
CREDIT_HEADERS = ("month", "kpi", "allocation_pct", "multiplier", "amount", "state", "reference", "reason")
MONTH_HEADERS = ("month", "forecast_volume", "actual_volume", "charges", "change_one_off", "change_monthly")


def _form() -> dict:
    return {k: v for k, v in request.form.items() if k != "csrf_token"}


def _trend(kpi: dict) -> charts.Trend:
    points = [(r["period"], float(r["value"]), r["value"], r["outcome"] or "pending") for r in kpi["results"]]
    return charts.trend(points, {"expected": float(kpi["expected"]), "minimum": float(kpi["minimum"])})


def _page(engagement_id: int, error: DomainError | None = None, status: int = 200, form: dict | None = None):
    user = current()
    engagement = scope.performance_engagement(user, engagement_id)
    card = scorecard.scorecard(user, engagement.id, request.args)
    grid: dict[tuple[int, str], list[dict]] = {}
    for kpi in card["kpis"]:
        for result in kpi["results"]:
            grid.setdefault((kpi["id"], result["month"]), []).append(result)
    return render_template(
        "performance/engagement.html", engagement=engagement, card=card, error=error, form=form or {},
        columns=months_between(card["from"], card["to"]), grid=grid,
        trends={k["id"]: _trend(k) for k in card["kpis"]}, marks=OUTCOME_MARKS, outcomes=OUTCOMES,
        pending=scorecard.pending_results(engagement), escalations=scorecard.escalations_of(engagement),
        settings=commercial.settings_json(commercial.settings_of(engagement)), months=scorecard.months_json(engagement),
        changes=scorecard.changes_json(engagement),
        templates=catalogue(), warning=_warning(len(card["kpis"])),
        can_define=scope.permits(user, "define_kpis"), can_submit=scope.permits(user, "submit_kpi_results"),
        can_review=scope.permits(user, "review_kpi_results"), can_commercial=scope.permits(user, "commercial")), status


def _warning(count: int) -> str | None:
    return golden_set_warning(count) if count else None


def _write(engagement_id: int, action, message: str):
    try:
        action()
    except NotFound:
        raise  # outside the caller's scope, or an action its role may not take: the same 404 as anywhere
    except DomainError as exc:
        return _page(engagement_id, exc, exc.status, _form())
    flash(message, "success")
    return redirect(url_for("pages.engagement_performance", engagement_id=engagement_id))


@bp.route("/engagements/<int:engagement_id>/performance")
def engagement_performance(engagement_id: int):
    return _page(engagement_id)


@bp.route("/engagements/<int:engagement_id>/performance/kpis", methods=["POST"])
def add_kpi(engagement_id: int):
    def action():
        data = {k: v for k, v in _form().items() if v != ""}  # an empty field keeps the template's value
        _kpi, warning = kpis.create_kpi(current(), engagement_id, data, ip=client_ip())
        if warning:
            flash(warning, "warning")
    return _write(engagement_id, action, "KPI added.")


@bp.route("/engagements/<int:engagement_id>/performance/results", methods=["POST"])
def submit_results(engagement_id: int):
    form = _form()
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        def action():
            results.import_file(current(), engagement_id, upload.read(), evidence_id=form.get("evidence_id"),
                                ip=client_ip())
    else:
        rows = [results.Row(i, key[len("value-"):], form.get("period"), value, form.get(f"volume-{key[6:]}"))
                for i, (key, value) in enumerate(sorted(form.items()), start=1)
                if key.startswith("value-") and value.strip()]

        def action():
            if not rows:
                raise DomainError("enter at least one value, or choose a file to import", field="period")
            results.submit(current(), engagement_id, rows, evidence_id=form.get("evidence_id"), ip=client_ip())
    return _write(engagement_id, action, "Results submitted for the client's review.")


@bp.route("/kpi-results/<int:result_id>/review", methods=["POST"])
def review_result(result_id: int):
    result = scope.kpi_result_for(current(), result_id)
    return _write(result.engagement_id, lambda: results.review(current(), result.id, _form(), ip=client_ip()),
                  f"Result {result.kpi.code} {result.period} reviewed.")


@bp.route("/engagements/<int:engagement_id>/performance/results/review", methods=["POST"])
def bulk_review_results(engagement_id: int):
    scope.performance_engagement(current(), engagement_id)  # another tenant's engagement: 404 first
    return _write(engagement_id, lambda: results.review_many(current(), bulk_form_data(), ip=client_ip()),
                  "Results reviewed, each recorded as its own decision.")


@bp.route("/engagements/<int:engagement_id>/performance/commercial", methods=["POST"])
def save_commercial(engagement_id: int):
    form = _form()
    data = {k: v for k, v in form.items() if k in ("currency", "at_risk_pct", "pool_pct", "repeat_multiplier",
                                                   "earn_back_months", "surge_tolerance_pct") and v != ""}
    if form.get("bands", "").strip():
        data["bands"] = _bands(form["bands"])
    return _write(engagement_id, lambda: commercial.update_settings(current(), engagement_id, data, ip=client_ip()),
                  "Commercial settings saved; credits recomputed.")


def _bands(text: str) -> list[dict]:
    """``0-50000: 4.10`` lines (an empty end is open): the form's way of writing bands."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        span, _, rate = line.partition(":")
        start, _, end = span.partition("-")
        out.append({"from": start.strip(), "to": end.strip() or None, "unit_rate": rate.strip()})
    return out


@bp.route("/engagements/<int:engagement_id>/performance/months", methods=["POST"])
def save_month(engagement_id: int):
    form = _form()
    return _write(engagement_id,
                  lambda: commercial.put_month(current(), engagement_id, form.get("month", ""), form, ip=client_ip()),
                  f"Month {form.get('month', '')} saved; relief and credits recomputed.")


@bp.route("/service-credits/<int:credit_id>/settle", methods=["POST"])
def settle_credit(credit_id: int):
    credit = scope.service_credit_for(current(), credit_id)
    return _write(credit.engagement_id, lambda: credits.settle(current(), credit.id, _form(), ip=client_ip()),
                  f"Credit {credit.kpi.code} {credit.month} settled.")


# --------------------------------------------------------------------------- a KPI

def _kpi_page(kpi_id: int, error: DomainError | None = None, status: int = 200):
    user = current()
    kpi = scope.kpi_for(user, kpi_id)
    versions = kpis.versions_by_kpi([kpi.id])[kpi.id]
    version = kpis.current_version(kpi, versions)
    rows = scorecard.results_of(kpi)
    summary = scorecard.kpi_summary(kpi, versions, [scorecard.Cell(r.period, r.value, r.outcome, r.state, r.id, r.month)
                                                    for r in rows if r.state != "rejected"])
    return render_template(
        "performance/kpi.html", kpi=kpi, engagement=kpi.engagement, version=version, versions=versions,
        definition=kpis.definition_of(version), rows=rows, trend=_trend(summary), marks=OUTCOME_MARKS, error=error,
        escalations=[e for e in scorecard.escalations_of(kpi.engagement) if e.kpi_id == kpi.id],
        side=kpis.side_of(user), can_define=scope.permits(user, "define_kpis")), status


@bp.route("/kpis/<int:kpi_id>")
def kpi_page(kpi_id: int):
    return _kpi_page(kpi_id)


def _kpi_write(kpi_id: int, action, message: str):
    try:
        action()
    except NotFound:
        raise
    except DomainError as exc:
        return _kpi_page(kpi_id, exc, exc.status)
    flash(message, "success")
    return redirect(url_for("pages.kpi_page", kpi_id=kpi_id))


@bp.route("/kpis/<int:kpi_id>/versions", methods=["POST"])
def propose_version(kpi_id: int):
    data = {k: v for k, v in _form().items() if v != ""}
    if "critical" in data:
        data["critical"] = data["critical"] == "1"
    return _kpi_write(kpi_id, lambda: rebasing.propose_version(current(), kpi_id, data, ip=client_ip()),
                      "New version proposed; the other side decides it.")


@bp.route("/kpis/<int:kpi_id>/versions/<int:n>/decision", methods=["POST"])
def decide_version(kpi_id: int, n: int):
    return _kpi_write(kpi_id, lambda: rebasing.decide_version(current(), kpi_id, n, _form(), ip=client_ip()),
                      f"Version {n} decided.")


# --------------------------------------------------------------------------- across engagements and exports

@bp.route("/performance")
def performance_across():
    return render_template("performance/index.html", misses=scorecard.misses_across(current()))


@bp.route(f"/engagements/<int:engagement_id>/scorecard.{exports.FORMATS}")
def scorecard_export(engagement_id: int, fmt: str) -> Response:
    card = scorecard.scorecard(current(), engagement_id, request.args)
    rows = [(k["code"], k["name"], r["period"], r["value"], r["outcome"] or "", r["state"],
             r["levels"].get("expected"), r["levels"].get("minimum"), r["levels"].get("version"))
            for k in card["kpis"] for r in k["results"]]
    return exports.table_download(fmt, f"scorecard-{engagement_id}-{card['from']}-{card['to']}", "Scorecard",
                                  SCORECARD_HEADERS, rows)


@bp.route(f"/engagements/<int:engagement_id>/credits.{exports.FORMATS}")
def credits_export(engagement_id: int, fmt: str) -> Response:
    card = scorecard.scorecard(current(), engagement_id, request.args)
    rows = [(m["month"], c["kpi"], c["allocation_pct"], c["multiplier"], c["amount"], c["state_label"], c["reference"],
             c["reason"]) for m in card["months"] for c in m["credits"]]
    return exports.table_download(fmt, f"credits-{engagement_id}-{card['from']}-{card['to']}",
                                  f"Credits ({card['currency']})", CREDIT_HEADERS, rows)


@bp.route(f"/engagements/<int:engagement_id>/commercial.{exports.FORMATS}")
def commercial_export(engagement_id: int, fmt: str) -> Response:
    """The months' volumes and charges with the agreed change requests' prices beside them."""
    engagement = scope.performance_engagement(current(), engagement_id)
    currency = commercial.settings_of(engagement).currency
    rows = [tuple(m[h] for h in MONTH_HEADERS) for m in scorecard.months_json(engagement)]
    return exports.table_download(fmt, f"commercial-{engagement_id}", f"Months ({currency})", MONTH_HEADERS, rows)
