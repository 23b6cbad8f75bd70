"""Identity pages: the organisation's SCIM tokens (its admins): create (the secret shown once), revoke."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from services.identity import scim
from web.auth import client_ip
from web.pages import bp, current


def _scim_page(*, secret: str | None = None, created=None, error: DomainError | None = None, name: str = "",
               status: int = 200):
    rows = list(scim.list_tokens(current()))
    return render_template("identity/scim_tokens.html", rows=rows, secret=secret, created=created, error=error,
                           name=name, base=request.host_url.rstrip("/") + "/scim/v2"), status


@bp.route("/identity/scim")
def scim_tokens_page():
    return _scim_page()


@bp.route("/identity/scim", methods=["POST"])
def scim_tokens_create():
    name = request.form.get("name", "")
    try:
        row, secret = scim.create_token(current(), name, ip=client_ip())
    except DomainError as exc:
        return _scim_page(error=exc, name=name, status=exc.status)
    return _scim_page(secret=secret, created=row)


@bp.route("/identity/scim/<int:token_id>/revoke", methods=["POST"])
def scim_tokens_revoke(token_id: int):
    row = scim.revoke_token(current(), token_id, ip=client_ip())
    flash(f"SCIM token “{row.name}” is revoked: provisioning with it stops now.", "success")
    return redirect(url_for("pages.scim_tokens_page"))
