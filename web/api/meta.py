"""The API's own description."""
from __future__ import annotations

from flask import jsonify

from web import openapi as oas
from web.api import OPENAPI_PATHS, route


@route("/openapi.json", summary="This description", public=True,
       response={"type": "object", "required": ["openapi", "info", "paths"],
                 "description": "An OpenAPI 3.1 document."})
def openapi():
    return jsonify(oas.document(OPENAPI_PATHS))
