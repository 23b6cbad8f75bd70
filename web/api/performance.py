"""Contract performance (SPEC §8): KPI templates, an engagement's KPIs and their versions, results (JSON or a
CSV/XLSX import), their review, commercial settings and months, the scorecard, settling service credits."""
from __future__ import annotations

from flask import jsonify, request

from domain.bulk import MAX_ITEMS
from domain.errors import ValidationError
from domain.performance_library import catalogue
from models import KpiResult, ServiceCredit
from services import scope
from services.performance import commercial, credits, kpis, rebasing, results, scorecard
from web import openapi as oas
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip

ANY = {"type": "object", "additionalProperties": True}
NUMBER_TEXT = {"type": "string", "description": "An exact decimal, as text."}
oas.register_schemas({
    "KpiTemplate": {**ANY, "description": "A catalogue template (controls/kpis.yaml) with its source."},
    "KpiTemplateList": {"type": "object", "properties": {"items": {"type": "array", "items": oas.ref("KpiTemplate")}}},
    "Kpi": {**ANY, "description": "A KPI as in effect today, with versions, results and credits.",
            "properties": {"id": {"type": "integer"}, "code": oas.STRING, "expected": NUMBER_TEXT,
                           "minimum": NUMBER_TEXT, "versions": {"type": "array"}}},
    "NewKpi": {**ANY, "description": "A catalogue `template` code, and/or the KPI in full: code, name, category, "
                                     "unit, direction, expected, minimum, period, critical, allocation_pct, "
                                     "volume_sensitive, definition {source, formula, sampling, exclusions}, "
                                     "client_owner, provider_owner (e-mails)."},
    "KpiCreated": {**ANY, "properties": {"kpi": oas.ref("Kpi"), "warning": oas.NULLABLE_STRING}},
    "KpiVersionProposal": {**ANY, "required": ["reason", "effective_from"]},
    "KpiVersion": ANY,
    "KpiDecision": {"type": "object", "required": ["decision"],
                    "properties": {"decision": oas.STRING, "reason": oas.STRING, "comment": oas.STRING}},
    "KpiResultsSubmission": {**ANY, "description": "JSON {period, results: [{kpi, value, volume}], evidence_id}, "
                                                   "or multipart with a CSV/XLSX `file` (columns kpi, period, value, "
                                                   "volume) and optional evidence_id."},
    "KpiBulkDecision": {"type": "object", "required": ["ids", "decision"],
                        "properties": {"ids": {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS,
                                               "uniqueItems": True, "items": {"type": "integer", "minimum": 1}},
                                       "decision": {"type": "string", "enum": ["accept", "reject", "excuse"]},
                                       "comment": oas.STRING}},
    "KpiResult": ANY,
    "KpiResultList": {"type": "object", "properties": {"items": {"type": "array", "items": oas.ref("KpiResult")}}},
    "CommercialSettings": {**ANY, "description": "Settings and bands; on GET also `months` (volumes, charges and "
                                                 "the agreed change requests' `change_one_off` and `change_monthly` "
                                                 "prices beside them) and `approved_changes` (approved and "
                                                 "implemented change requests with `from_month`, `one_off_price`, "
                                                 "`monthly_price`)."},
    "MonthVolume": ANY,
    "Scorecard": {**ANY, "properties": {"kpis": {"type": "array"}, "months": {"type": "array"}}},
    "ServiceCredit": ANY,
    "Settlement": {"type": "object", "required": ["state"],
                   "properties": {"state": {"type": "string", "enum": ["credited", "waived"]},
                                  "reference": oas.STRING, "reason": oas.STRING}},
}, pages=("Kpi",))


def result_json(row: KpiResult) -> dict:
    return {"id": row.id, "kpi": row.kpi.code, "kpi_id": row.kpi_id, "period": row.period, "n": row.n,
            "value": format(row.value, "f"), "volume": row.volume, "state": row.state, "outcome": row.outcome,
            "judged": row.judged, "version": row.version, "excuse_reason": row.excuse_reason,
            "review_comment": row.review_comment, "evidence_id": row.evidence_id,
            "evidence_sha256": row.evidence_sha256 or None,
            "submitted_by": row.submitted_by.email if row.submitted_by_id else None,
            "submitted_at": row.submitted_at.isoformat() + "Z"}


def credit_json(row: ServiceCredit) -> dict:
    return {"id": row.id, "kpi": row.kpi.code, "month": row.month, "allocation_pct": str(row.allocation_pct),
            "multiplier": str(row.multiplier), "amount": str(row.amount), "capped": row.capped, "state": row.state,
            "earn_back_until": row.earn_back_until, "reference": row.reference, "reason": row.reason}


def kpi_json(kpi) -> dict:
    versions = kpis.versions_by_kpi([kpi.id])[kpi.id]
    version = kpis.current_version(kpi, versions)
    rows = scorecard.results_of(kpi)
    return {**scorecard.kpi_summary(kpi, versions, []), "definition": kpis.definition_of(version),
            "template": kpi.template, "version": version.n,
            "client_owner": kpi.client_owner.email if kpi.client_owner_id else None,
            "provider_owner": kpi.provider_owner.email if kpi.provider_owner_id else None,
            "versions": [scorecard.version_json(v) for v in versions],
            "results": [result_json(r) for r in rows],
            "credits": [credit_json(c) for c in scorecard.credits_of_kpi(kpi)]}


@route("/kpi-templates", summary="The library's KPI templates", response="KpiTemplateList")
def kpi_templates():
    visible = scope.sees_kpi_templates(api_user())
    return jsonify({"items": [t.as_dict() for t in catalogue()] if visible else []})


@route("/engagements/<int:engagement_id>/kpis", summary="The engagement's KPIs", params=("page", "per_page"),
       response="KpiPage", errors=(400, 404))
def engagement_kpis(engagement_id: int):
    engagement = scope.performance_engagement(api_user(), engagement_id)
    return paginate(kpis.kpis_of(engagement), lambda rows: [kpi_json(k) for k in rows])


@route("/engagements/<int:engagement_id>/kpis", methods=("POST",), status=201, body="NewKpi",
       summary="Add a KPI from a template or in full (a golden set outside 8-15 answers with a warning)",
       response="KpiCreated", errors=(404, 409, 422))
def create_kpi(engagement_id: int):
    kpi, warning = kpis.create_kpi(api_user(), engagement_id, json_body(), ip=client_ip())
    return jsonify({**kpi_json(kpi), "warning": warning}), 201


@route("/kpis/<int:kpi_id>", summary="One KPI as in effect today, with its versions, results and credits",
       response="Kpi", errors=(404,))
def get_kpi(kpi_id: int):
    return jsonify(kpi_json(scope.kpi_for(api_user(), kpi_id)))


@route("/kpis/<int:kpi_id>", methods=("PATCH",), body="KpiVersionProposal",
       summary="Propose a new version (rebasing): reason, effective_from and the changed fields; or, alone, a new "
               "name or owners (client_owner, provider_owner: e-mails), changed at once. Answers the KPI with its "
               "versions", response="Kpi", errors=(404, 409, 422))
def propose_kpi_version(kpi_id: int):
    data = json_body()
    direct = {k: v for k, v in data.items() if k in kpis.DIRECT_FIELDS}
    proposal = {k: v for k, v in data.items() if k not in kpis.DIRECT_FIELDS}
    if direct and not proposal:  # a new name or owners: no version needed
        return jsonify(kpi_json(kpis.update_kpi(api_user(), kpi_id, direct, ip=client_ip())))
    if direct:
        raise ValidationError("change name and owners apart from a new version of the levels", field="name")
    version = rebasing.propose_version(api_user(), kpi_id, proposal, ip=client_ip())
    return jsonify(kpi_json(version.kpi))


@route("/kpis/<int:kpi_id>/versions/<int:n>/decision", methods=("POST",), body="KpiDecision",
       summary="The other side approves or rejects a proposed version", response="KpiVersion",
       errors=(404, 409, 422))
def decide_kpi_version(kpi_id: int, n: int):
    version = rebasing.decide_version(api_user(), kpi_id, n, json_body(), ip=client_ip())
    return jsonify(scorecard.version_json(version))


@route("/engagements/<int:engagement_id>/kpi-results", methods=("POST",), status=201, body="KpiResultsSubmission",
       summary="Submit results (JSON) or import a CSV/XLSX file: all or nothing, every bad row named",
       response="KpiResultList", errors=(404, 409, 415, 422))
def submit_kpi_results(engagement_id: int):
    user = api_user()
    scope.performance_engagement(user, engagement_id, "submit_kpi_results")  # whose engagement, before the body
    try:
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            if upload is None:
                raise ValidationError("file (a CSV or XLSX) is required", field="file")
            rows = results.import_file(user, engagement_id, upload.read(), evidence_id=request.form.get("evidence_id"),
                                       ip=client_ip())
        else:
            data = json_body()
            rows = results.submit(user, engagement_id, results.rows_from_json(data),
                                  evidence_id=data.get("evidence_id"), ip=client_ip())
    except results.RowErrors as exc:
        return jsonify({"error": {"code": exc.code, "message": exc.message, "field": exc.field,
                                  "rows": [{"line": line, "message": m} for line, m in exc.rows]}}), exc.status
    return jsonify({"items": [result_json(r) for r in rows]}), 201


@route("/kpi-results/review", methods=("POST",), body="KpiBulkDecision", response="KpiResultList",
       summary="Decide several submitted results with one comment (accept; reject or excuse with a reason): each is "
       "its own audited decision; if one cannot be decided, none is (the error lists each)",
       errors=(400, 404, 409, 422))
def review_kpi_results_bulk():
    return jsonify({"items": [result_json(r) for r in results.review_many(api_user(), json_body(), ip=client_ip())]})


@route("/kpi-results/<int:result_id>/review", methods=("POST",), body="KpiDecision",
       summary="Accept, reject (with a reason) or excuse (with a reason) a submitted result", response="KpiResult",
       errors=(404, 409, 422))
def review_kpi_result(result_id: int):
    return jsonify(result_json(results.review(api_user(), result_id, json_body(), ip=client_ip())))


@route("/engagements/<int:engagement_id>/commercial", summary="Commercial settings, bands and months",
       response="CommercialSettings", errors=(404,))
def get_commercial(engagement_id: int):
    engagement = scope.performance_engagement(api_user(), engagement_id)
    return jsonify({**commercial.settings_json(commercial.settings_of(engagement)),
                    "months": scorecard.months_json(engagement),
                    "approved_changes": scorecard.changes_json(engagement)})


@route("/engagements/<int:engagement_id>/commercial", methods=("PATCH",), body="CommercialSettings",
       summary="Change commercial settings (client_admin); credits are recomputed", response="CommercialSettings",
       errors=(404, 422))
def patch_commercial(engagement_id: int):
    settings = commercial.update_settings(api_user(), engagement_id, json_body(), ip=client_ip())
    return jsonify(commercial.settings_json(settings))


@route("/engagements/<int:engagement_id>/months/<month>", methods=("PUT",), body="MonthVolume",
       summary="A month's forecast and actual volumes and charges (client_admin)", response="MonthVolume",
       errors=(404, 422))
def put_month(engagement_id: int, month: str):
    row = commercial.put_month(api_user(), engagement_id, month, json_body(), ip=client_ip())
    return jsonify({"month": row.month, "forecast_volume": row.forecast_volume, "actual_volume": row.actual_volume,
                    "charges": None if row.charges is None else str(row.charges)})


@route("/engagements/<int:engagement_id>/scorecard", summary="KPI × period results and the months' credits",
       params=("from", "to"), response="Scorecard", errors=(404, 422))
def get_scorecard(engagement_id: int):
    return jsonify(scorecard.scorecard(api_user(), engagement_id, request.args))


@route("/service-credits/<int:credit_id>/settle", methods=("POST",), body="Settlement",
       summary="Mark a payable credit credited (reference) or waived (reason), once", response="ServiceCredit",
       errors=(404, 409, 422))
def settle_credit(credit_id: int):
    return jsonify(credit_json(credits.settle(api_user(), credit_id, json_body(), ip=client_ip())))
