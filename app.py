"""Attest: compliance evidence tracker with audit rights for outsourced contact centres.

``create_app()`` is the application factory; ``flask --app app <command>`` runs the
commands of SPEC §5 (see commands.py).
"""
from __future__ import annotations

import os
import sys

from flask import Flask, request

import commands
import evidence_store
import models
from evidence_store import StoreError
from services.alerts import scheduler
from services.integrations import crypto as integrations
from web import (
    access_log,
    api,
    auth,
    errors,
    health,
    idempotency,
    json_input,
    mail_console,
    naming,
    pages,
    redaction,
    requestlog,
    security,
    timefmt,
    uploads,
)
from web.api.identity import scim_bp
from web.config import load_config
from web.pages import integrations as integration_pages
from web.pages.identity import sso_bp

INSTANCE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance")


def check_configuration() -> None:
    """What a process checks before serving, without building the app (gunicorn's master, before forking):
    the configuration parses and the evidence store takes a write; else one clear line and exit 3."""
    try:
        config = load_config(INSTANCE_PATH)
        store = evidence_store.open_store(config["EVIDENCE_STORE"])
        store.check()
    except (RuntimeError, StoreError) as exc:
        print(f"attest: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(3) from None


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=INSTANCE_PATH)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(load_config(app.instance_path))
    if test_config:
        app.config.update(test_config)
    models.bind_database(app.config["DATABASE_URL"])
    integrations.configure(app.config["SECRET_KEY"], allow_private=bool(app.config.get("WEBHOOK_ALLOW_PRIVATE")),
                           ca_bundle=app.config.get("WEBHOOK_CA_BUNDLE") or "")
    app.extensions["evidence_store"] = _evidence_store(app, exit_on_error=test_config is None)

    @app.before_request
    def _connect() -> None:
        if request.endpoint != "health.healthz":  # it reports an unreachable database itself
            models.db.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(_exc) -> None:
        if not models.db.is_closed() and not app.config.get("KEEP_DB_OPEN"):
            models.db.close()

    requestlog.init_app(app)  # first: its request id is on every later line
    json_input.init_app(app)  # before anything reads a body: the 1 MB JSON limit and the safe parser
    security.init_app(app)
    uploads.init_app(app)  # the evidence store, swept of crashed uploads' temporary files
    auth.init_app(app)
    errors.init_app(app)
    access_log.init_app(app)
    redaction.init_app(app)  # what an auditor reads names no framework outside its grant
    idempotency.init_app(app)
    timefmt.init_app(app)
    naming.init_app(app)
    mail_console.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(sso_bp)  # single sign-on: public, nobody is signed in yet
    app.register_blueprint(health.bp)
    app.register_blueprint(scim_bp)  # /scim/v2: an organisation's SCIM token, SCIM's own errors
    app.register_blueprint(integration_pages.feeds)  # the .ics feed: its secret authorises, not a session

    commands.init_app(app)

    scheduler.init_app(app)  # SCHEDULER=inprocess only
    return app


def _evidence_store(app: Flask, exit_on_error: bool):
    """The store EVIDENCE_STORE names, checked writable now: a malformed URL, an unreachable endpoint or
    refused credentials stop the process with one clear line (exit 3, which also makes gunicorn's master
    give up instead of restarting workers that cannot work)."""
    try:
        store = evidence_store.configure(app.config["EVIDENCE_STORE"])
        store.check()
        return store
    except StoreError as exc:
        if not exit_on_error:
            raise
        print(f"attest: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
