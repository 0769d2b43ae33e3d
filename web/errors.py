"""The only place exceptions become HTTP: ``{"error": {"code", "message", ...}}``."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ocelot.errors import OcelotError

log = logging.getLogger("ocelot.web")


def error_response(status: int, code: str, message: str, **extra: object) -> ResponseReturnValue:
    return jsonify({"error": {"code": code, "message": message, **extra}}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(OcelotError)
    def _ocelot(exc: OcelotError) -> ResponseReturnValue:
        body = exc.to_dict()
        return jsonify({"error": body}), exc.status_code

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        code = {413: "payload_too_large", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.code or 500, (exc.name or "error").lower().replace(" ", "_")
        )
        message = exc.description or exc.name
        if exc.code == 413:
            message = "request body is larger than the configured limit (OCELOT_MAX_BODY_BYTES)"
        return error_response(exc.code or 500, code, message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        return error_response(500, "internal", "internal server error (see the server log)")
