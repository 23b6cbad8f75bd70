"""Attest: compliance evidence tracker with audit rights for outsourced contact centres.

``create_app()`` is the application factory; ``flask --app app <command>`` runs the
commands of SPEC §5 (see commands.py).
"""
from __future__ import annotations

import os

from flask import Flask

import models
from web.config import load_config


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance"))
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(load_config(app.instance_path))
    if test_config:
        app.config.update(test_config)
    models.bind_database(app.config["DATABASE_URL"])

    @app.before_request
    def _connect() -> None:
        models.db.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(_exc) -> None:
        if not models.db.is_closed() and not app.config.get("KEEP_DB_OPEN"):
            models.db.close()

    from web import api, auth, errors, pages, security, uploads
    security.init_app(app)
    uploads.init_app(app)  # the evidence store, swept of crashed uploads' temporary files
    auth.init_app(app)
    errors.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)

    import commands
    commands.init_app(app)

    from services import scheduler
    scheduler.init_app(app)  # SCHEDULER=inprocess only
    return app
