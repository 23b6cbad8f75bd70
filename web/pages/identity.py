"""Identity pages: the organisation's SCIM tokens (its admins): create (the secret shown once), revoke.

Single sign-on: the public sign-in routes (``/sso/...``, their own blueprint: nobody is signed in yet) and
the organisation admin's SSO settings page with its "test sign-in" button."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from domain.errors import DomainError, NotFound
from models import ROLE_ORG_KIND, ROLES
from services import scope
from services.identity import oidc, saml, scim, sso
from web.auth import _safe_next, client_ip, start_session
from web.pages import bp, current
from web.security import csrf


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


sso_bp = Blueprint("sso", __name__)


def callback_url(endpoint: str) -> str:
    """The address the IdP sends the browser back to: BASE_URL (what the IdP has registered), not the
    Host header a client chose."""
    return current_app.config["BASE_URL"] + url_for(endpoint)


def _refused(exc: DomainError):
    flash(exc.message, "error")
    return render_template("login.html", next="", email=""), exc.status


@sso_bp.route("/sso/<slug>/login")
def sso_login(slug: str):
    """Send the browser to the organisation's IdP (``?test=1``: its admin's test sign-in)."""
    config = sso.config_by_slug(slug)
    test = request.args.get("test") == "1"
    if config is None:
        raise NotFound("no single sign-on by that name")
    if test:  # only the organisation's own admin may test it
        scope.organisation_for_admin(current_user if current_user.is_authenticated else None, config.organisation_id)
    next_path = "" if test else _safe_next(request.args.get("next"))
    hint = (request.args.get("login_hint") or "")[:254]
    try:
        if config.protocol == "oidc":
            url, state = oidc.begin(config, redirect_uri=callback_url("sso.oidc_callback"), next_path=next_path,
                                    login_hint=hint, test_only=test, ip=client_ip())
            session["sso_state"] = state  # the callback must come back to this browser
        else:
            url = saml.begin(config, sp=saml.sp_settings(current_app.config["BASE_URL"]), next_path=next_path,
                             test_only=test, ip=client_ip())
    except DomainError as exc:
        return _refused(exc)
    return redirect(url)


@sso_bp.route("/sso/oidc/callback")
def oidc_callback():
    state = request.args.get("state", "")[:200]
    bound = session.pop("sso_state", None)
    try:
        if not (isinstance(bound, str) and hmac.compare_digest(bound.encode(), state.encode())):
            sso.refuse(None, "state_not_bound", method="oidc", ip=client_ip(),
                       message="This sign-in was not started in this browser: start again from the sign-in page.")
        outcome = oidc.finish(state=state, code=request.args.get("code", "")[:2000],
                              error=request.args.get("error", "")[:200],
                              redirect_uri=callback_url("sso.oidc_callback"),
                              secret_key=current_app.config["SECRET_KEY"], ip=client_ip(),
                              iss=request.args.get("iss"))
    except DomainError as exc:
        return _refused(exc)
    return _arrive(outcome)


@sso_bp.route("/sso/saml/acs", methods=["POST"])
@csrf.exempt  # the IdP's page posts here; the response's signature, InResponseTo and id replace the token
def saml_acs():
    try:
        outcome = saml.finish(request.form.get("SAMLResponse", ""), sp=saml.sp_settings(current_app.config["BASE_URL"]),
                              ip=client_ip())
    except DomainError as exc:
        return _refused(exc)
    return _arrive(outcome)


@sso_bp.route("/sso/saml/metadata")
def saml_metadata():
    xml = saml.sp_metadata(saml.sp_settings(current_app.config["BASE_URL"]))
    return current_app.response_class(xml, mimetype="application/samlmetadata+xml")


def _arrive(outcome):
    if outcome.test is not None:
        return render_template("identity/test_result.html", result=outcome.test)
    start_session(outcome.user)
    return redirect(_safe_next(outcome.flow.next_path))


# ------------------------------------------------------------------------------------------ the settings page

def _form_data() -> dict:
    form = request.form
    roles = {}
    for line in form.get("group_roles", "").splitlines():
        group, _, role = line.partition("=")
        if group.strip():
            roles[group.strip()] = role.strip()
    data = {"protocol": form.get("protocol", "oidc"), "enabled": form.get("enabled") == "1",
            "issuer": form.get("issuer", ""), "client_id": form.get("client_id", ""),
            "idp_metadata": form.get("idp_metadata", ""),
            "domains": [d for d in form.get("domains", "").replace(",", " ").split() if d],
            "default_role": form.get("default_role", ""), "group_claim": form.get("group_claim", ""),
            "group_roles": roles, "create_users": form.get("create_users") == "1",
            "password_allowed": form.get("password_allowed") == "1"}
    if form.get("client_secret"):
        data["client_secret"] = form["client_secret"]
    return data


def _settings_page(organisation, config, *, error: DomainError | None = None, values: dict | None = None,
                   status: int = 200):
    shown = sso.settings_json(organisation, config)
    if values:
        shown.update({k: v for k, v in values.items() if k != "client_secret"})
    roles = [r for r in ROLES if ROLE_ORG_KIND[r] == organisation.kind]
    return render_template("identity/settings.html", organisation=organisation, settings=shown, roles=roles,
                           group_roles_text="\n".join(f"{k} = {v}" for k, v in shown["group_roles"].items()),
                           metadata_url=current_app.config["BASE_URL"] + url_for("sso.saml_metadata"),
                           callback=callback_url("sso.oidc_callback"), error=error), status


@bp.route("/organisations/<int:organisation_id>/sso")
def sso_settings(organisation_id: int):
    organisation, config = sso.settings_for(current(), organisation_id)
    return _settings_page(organisation, config)


@bp.route("/organisations/<int:organisation_id>/sso", methods=["POST"])
def sso_settings_save(organisation_id: int):
    organisation, _ = sso.settings_for(current(), organisation_id)
    data = _form_data()
    try:
        config = sso.save_settings(current(), organisation_id, data, secret_key=current_app.config["SECRET_KEY"],
                                   ip=client_ip(), metadata_check=saml.idp_entity_id)
    except DomainError as exc:
        return _settings_page(organisation, sso.config_of(organisation), error=exc, values=data, status=exc.status)
    flash("Single sign-on settings saved." + (" Users of your domains now sign in through your identity provider."
                                               if config.enabled else ""), "success")
    return redirect(url_for("pages.sso_settings", organisation_id=organisation_id))
