"""GET /healthz for load balancers: public, JSON, 200 when healthy and 503 when not (services.ops.health)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from services.ops.health import health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    healthy, report = health(current_app.extensions["evidence_store"])
    response = jsonify(report)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
