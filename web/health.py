"""Liveness (``/healthz``) and readiness (``/readyz``: database, Redis and, when configured,
Vault reachable; each dependency reported on its own)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ocelot.db import check_database
from ocelot.dependencies import check_vault
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
    if svc.settings.vault_addr:
        try:
            check_vault(svc.settings)
            checks["vault"] = "ok"
        except OcelotError as exc:
            checks["vault"] = exc.message
    ok = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if ok else "unavailable", "checks": checks}), 200 if ok else 503
