"""Evidence pack pages: request a pack, follow its build (a live progress bar), download it."""
from __future__ import annotations

import json

from flask import Response, current_app, flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from models import Pack
from services import scope
from services.auditors import packs
from web.auth import client_ip
from web.pages import bp, current


def _packs_page(engagement, error: DomainError | None = None, form: dict | None = None, status: int = 200):
    user = current()
    return render_template("packs/index.html", engagement=engagement, json=json, error=error, form=form or {},
                           packs=list(scope.packs_for(user, engagement).order_by(Pack.id.desc()).limit(50)),
                           frameworks=sorted(packs.allowed_frameworks(user, engagement))), status


@bp.route("/engagements/<int:engagement_id>/packs", methods=["GET", "POST"])
def engagement_packs(engagement_id: int):
    engagement = scope.engagement_for(current(), engagement_id, "build_pack")
    if request.method == "GET":
        return _packs_page(engagement)
    form = {"frameworks": request.form.getlist("frameworks"), "period_start": request.form.get("period_start", ""),
            "period_end": request.form.get("period_end", "")}
    try:
        pack = packs.request_pack(current(), engagement.id, form, ip=client_ip())
    except DomainError as exc:
        return _packs_page(engagement, exc, form, 422)
    flash(f"Pack {pack.id} is queued; this page follows its build.", "success")
    return redirect(url_for("pages.pack_page", pack_id=pack.id))


@bp.route("/packs/<int:pack_id>")
def pack_page(pack_id: int) -> str:
    pack = scope.pack_for(current(), pack_id)
    return render_template("packs/pack.html", pack=pack, engagement=pack.engagement, json=json)


@bp.route("/packs/<int:pack_id>/download")
def pack_download(pack_id: int) -> Response:
    row, handle = packs.pack_file(current(), pack_id, current_app.config["EVIDENCE_STORE"], ip=client_ip())
    return Response(handle, mimetype="application/pdf", direct_passthrough=True,
                    headers={"Content-Disposition": f'attachment; filename="evidence-pack-{row.id}.pdf"',
                             "Content-Length": str(row.size)})
