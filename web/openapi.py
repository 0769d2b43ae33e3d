"""An OpenAPI 3.1 document generated from the routes the app really serves.

Paths and methods come from Flask's URL map and summaries from the view docstrings, so the
document cannot drift from the code; object shapes are described in docs/rest-api.md.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app

import ocelot

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = _PARAM.sub(r"{\2}", rule.rule)
        view = current_app.view_functions[rule.endpoint]
        summary = (view.__doc__ or view.__name__.replace("_", " ")).strip().splitlines()[0]
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if conv == "int" else "string"},
            }
            for conv, name in _PARAM.findall(rule.rule)
        ]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = {
                "summary": summary,
                "operationId": f"{rule.endpoint}_{method.lower()}",
                "parameters": params,
                "security": [{"bearer": []}],
                "responses": {"default": {"$ref": "#/components/responses/Error"}},
            }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ocelot", "version": ocelot.__version__},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": 'Errors: {"error": {"code": str, "message": str}}',
                }
            },
        },
    }
