"""Liveness (``/healthz``) and readiness (``/readyz``: database and Redis reachable)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ocelot.db import check_database
from ocelot.errors import OcelotError
from web.app import services

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz() -> ResponseReturnValue:
    svc = services()
    checks: dict[str, str] = {}
    try:
        check_database(svc.engine)
        checks["database"] = "ok"
    except OcelotError as exc:
        checks["database"] = exc.message
    try:
        svc.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["redis"] = f"unreachable: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if ok else "unavailable", "checks": checks}), 200 if ok else 503
