"""The signed-in user's API tokens: create (the secret shown once, on this response only), revoke."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from services.people import tokens
from web.auth import client_ip
from web.pages import bp, current


def _tokens_page(*, secret: str | None = None, created=None, error: DomainError | None = None, name: str = "",
                 status: int = 200):
    rows = list(tokens.list_tokens(current()))
    return render_template("tokens/list.html", rows=rows, secret=secret, created=created, error=error,
                           name=name), status


@bp.route("/tokens")
def tokens_list():
    return _tokens_page()


@bp.route("/tokens", methods=["POST"])
def tokens_create():
    name = request.form.get("name", "")
    try:
        row, secret = tokens.create(current(), name, ip=client_ip())
    except DomainError as exc:
        return _tokens_page(error=exc, name=name, status=exc.status)
    return _tokens_page(secret=secret, created=row)  # not a redirect: the secret is never stored


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
def tokens_revoke(token_id: int):
    row = tokens.revoke(current(), token_id, ip=client_ip())
    flash(f"Token “{row.name}” is revoked: it no longer works.", "success")
    return redirect(url_for("pages.tokens_list"))
