"""Server-rendered pages. Thin: parse, authorise through services.scope, call a service, render."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("pages", __name__)


@bp.route("/")
@login_required
def home():
    return render_template("home.html")
