"""Who am I, and the OpenAPI document."""

from __future__ import annotations

from flask import g, jsonify
from flask.typing import ResponseReturnValue

from web.api.blueprint import api
from web.openapi import openapi_document


@api.get("/whoami")
def whoami() -> ResponseReturnValue:
    return jsonify({"token": {"name": g.token_name, "id": g.token_id, "role": g.token_role}})


@api.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document())
