"""Home, the control library browser and the coverage matrix."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from flask import Response, render_template, request

from services import scope
from services.register import queries
from web import exports
from web.pages import bp, current
from web.pages.portal import portal_home


@bp.route("/")
def home() -> str:
    if current().role == "auditor":  # an auditor's landing page is its portal, not the operational home
        return portal_home()
    return render_template("home.html", summaries=queries.engagement_summaries(current()))


@bp.route("/library")
def library() -> str:
    return render_template("library.html", frameworks=list(scope.library_frameworks(current())),
                           counts=queries.obligation_counts())


@bp.route("/library/<code>")
def framework(code: str) -> str:
    fw = scope.library_framework(current(), code)
    controls_of: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for obligation_id, _cid, ccode, ctitle, coverage in queries.mappings_of_framework(fw):
        controls_of[obligation_id].append((ccode, ctitle, coverage))
    return render_template("framework.html", framework=fw, obligations=queries.obligations_of(fw),
                           controls_of=controls_of)


@bp.route("/controls/<code>")
def control(code: str) -> str:
    user = current()
    (row,) = queries.readable_controls(user, [scope.library_control(user, code)])
    return render_template("control.html", control=row, mappings=queries.readable_mappings(user, [row.id])[row.id],
                           requirements=queries.requirements_of([row.id])[row.id])


@bp.route("/coverage")
def coverage() -> str:
    frameworks = list(scope.library_frameworks(current()))
    if not frameworks:
        return render_template("coverage.html", matrix=None, frameworks=[])
    code = request.args.get("framework") or frameworks[0].code
    matrix = queries.coverage_matrix(scope.library_framework(current(), code))
    return render_template("coverage.html", matrix=matrix, frameworks=frameworks)


@bp.route(f"/coverage.{exports.FORMATS}")
def coverage_export(fmt: str) -> Response:
    matrix = queries.coverage_matrix(scope.library_framework(current(), request.args.get("framework", "")))
    return exports.table_download(fmt, f"coverage-{matrix.framework.code}-{dt.date.today().isoformat()}",
                                  f"Coverage {matrix.framework.code}", matrix.HEADERS, matrix.rows())


