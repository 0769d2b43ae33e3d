"""The only place exceptions become HTTP. Machine routes (``/api``, ``/hooks``, ``/healthz``,
``/readyz``) answer ``{"error": {"code", "message", ...}}``; every other route is a page for
a person (the dashboard) and gets an HTML error page with the same status and message."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from ocelot.errors import OcelotError

log = logging.getLogger("ocelot.web")

MACHINE_PREFIXES = ("/api/", "/hooks/", "/healthz", "/readyz")
TITLES = {
    400: "Bad request",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    500: "Server error",
    502: "Upstream error",
    503: "Unavailable",
}


def error_response(status: int, code: str, message: str, **extra: object) -> ResponseReturnValue:
    return jsonify({"error": {"code": code, "message": message, **extra}}), status


def wants_html() -> bool:
    """Whether the failing request was for a page (not the API, webhooks or health)."""
    path = request.path
    return not (path == "/api" or path.startswith(MACHINE_PREFIXES))


def error_page(status: int, message: str) -> ResponseReturnValue:
    title = TITLES.get(status, "Error")
    try:
        html = render_template("dashboard/error.html", status=status, title=title, message=message)
    except Exception:  # the page itself failed: a bare page still answers
        log.exception("error page failed")
        html = (
            f"<!doctype html><title>{status}</title>"
            f"<h1>{status} {title}</h1><p>{escape(message)}</p>"
        )
    return html, status, {"Content-Type": "text/html; charset=utf-8"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(OcelotError)
    def _ocelot(exc: OcelotError) -> ResponseReturnValue:
        if wants_html():
            return error_page(exc.status_code, exc.message)
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
        if wants_html():
            return error_page(exc.code or 500, message)
        return error_response(exc.code or 500, code, message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        if wants_html():
            return error_page(500, "internal server error (see the server log)")
        return error_response(500, "internal", "internal server error (see the server log)")
