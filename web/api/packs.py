"""Evidence packs: request one (202: a worker builds it), follow its progress, download the PDF; and the
engagement's OSCAL assessment-results."""
from __future__ import annotations

import json

from flask import Response, current_app, jsonify, url_for

from domain.timeutil import isoformat_utc
from models import Pack
from services import scope
from services.auditors import oscal, packs
from web import openapi as oas
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip

oas.register_schemas({
    "NewPack": oas._object({"frameworks": {"type": "array", "items": oas.STRING, "minItems": 1},
                            "period_start": oas.DATE, "period_end": oas.DATE}),
    "Pack": oas._object({
        "id": {"type": "integer"}, "engagement": {"type": "integer"}, "frameworks": oas.CODES,
        "period_start": oas.DATE, "period_end": oas.DATE,
        "status": {"type": "string", "enum": ["queued", "building", "ready", "failed"]},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "size": {"type": ["integer", "null"]}, "head_hash": {"type": ["string", "null"]},
        "error": oas.STRING, "requested_by": oas.NULLABLE_STRING, "created_at": oas.INSTANT,
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "file_url": oas.NULLABLE_STRING}),
    "PackFile": {"type": "object", "description": "The pack's PDF itself (application/pdf), not JSON."},
    "OscalAssessmentResults": {"type": "object", "required": ["assessment-results"],
                               "description": "An OSCAL 1.x assessment-results document."},
}, pages=("Pack",))


def pack_json(pack: Pack) -> dict:
    return {"id": pack.id, "engagement": pack.engagement_id, "frameworks": json.loads(pack.frameworks),
            "period_start": pack.period_start.isoformat(), "period_end": pack.period_end.isoformat(),
            "status": pack.status, "progress": pack.progress, "sha256": pack.file_sha256, "size": pack.size,
            "head_hash": pack.head_hash, "error": pack.error,
            "requested_by": pack.requested_by.email if pack.requested_by_id else None,
            "created_at": isoformat_utc(pack.created_at), "finished_at": isoformat_utc(pack.finished_at),
            "file_url": url_for("api.pack_file", pack_id=pack.id) if pack.status == "ready" else None}


@route("/engagements/<int:engagement_id>/packs", methods=("POST",), status=202,
       summary="Request an evidence pack (built in the background)", body="NewPack", response="Pack",
       errors=(400, 404, 422))
def request_pack(engagement_id: int):
    pack = packs.request_pack(api_user(), engagement_id, json_body(), ip=client_ip())
    return jsonify(pack_json(pack)), 202, {"Location": url_for("api.pack", pack_id=pack.id)}


@route("/engagements/<int:engagement_id>/packs", summary="The engagement's packs the caller may see",
       params=("page", "per_page"), response="PackPage", errors=(400, 404))
def engagement_packs(engagement_id: int):
    user = api_user()
    engagement = scope.engagement_for(user, engagement_id, "build_pack")
    return paginate(scope.packs_for(user, engagement).order_by(Pack.id.desc()),
                    lambda rows: [pack_json(p) for p in rows])


@route("/packs/<int:pack_id>", summary="A pack's status and progress", response="Pack", errors=(404,))
def pack(pack_id: int):
    return jsonify(pack_json(scope.pack_for(api_user(), pack_id)))


@route("/packs/<int:pack_id>/file", summary="The pack's PDF (404 until it is ready)", response="PackFile",
       errors=(404,))
def pack_file(pack_id: int):
    row, handle = packs.pack_file(api_user(), pack_id, current_app.config["EVIDENCE_STORE"], ip=client_ip())
    return Response(handle, mimetype="application/pdf", direct_passthrough=True,
                    headers={"Content-Disposition": f'attachment; filename="evidence-pack-{row.id}.pdf"',
                             "Content-Length": str(row.size)})


@route("/engagements/<int:engagement_id>/oscal", summary="The engagement's OSCAL assessment-results",
       response="OscalAssessmentResults", errors=(404,))
def engagement_oscal(engagement_id: int):
    return jsonify(oscal.assessment_results(api_user(), engagement_id))
