"""Liveness (``/healthz``) and readiness (``/readyz``: database, Redis and, when configured,
Vault reachable; each dependency reported on its own).

``/readyz`` needs no token, so what it says without one is only ``ok`` or ``down`` per
dependency: a driver's error text names hosts, ports, users and versions. With a valid bearer
token (any role) the answer adds ``details`` with that text. The token lives in the database,
so while the database is down no token can be checked and the details stay hidden; they are
always in the server log.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ocelot.db import check_database, session_scope
from ocelot.dependencies import check_vault
from ocelot.errors import OcelotError
from ocelot.services.tokens import authenticate
from web.auth import bearer_token
from web.extensions import Services, services

health = Blueprint("health", __name__)
log = logging.getLogger("ocelot.web")

OK, DOWN = "ok", "down"


@health.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


def _probe(svc: Services) -> dict[str, str | None]:
    """Each dependency → None when it answers, else what went wrong (for the log/details)."""
    found: dict[str, str | None] = {}
    try:
        check_database(svc.engine)
        found["database"] = None
    except OcelotError as exc:
        found["database"] = exc.message
    try:
        svc.redis.ping()
        found["redis"] = None
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        found["redis"] = f"unreachable: {exc}"
    if svc.settings.vault_addr:
        try:
            check_vault(svc.settings)
            found["vault"] = None
        except OcelotError as exc:
            found["vault"] = exc.message
    return found


def _may_see_details(svc: Services) -> bool:
    """Whether the request carries a live token (any role); never raises."""
    token = bearer_token()
    if not token:
        return False
    try:
        with session_scope(svc.engine) as session:
            authenticate(session, token, touch=False)
        return True
    except Exception:  # noqa: BLE001 - a bad token or an unreachable database: no details
        return False


@health.get("/readyz")
def readyz() -> ResponseReturnValue:
    svc = services()
    found = _probe(svc)
    for name, problem in found.items():
        if problem is not None:
            log.warning("readyz: %s is down: %s", name, problem)
    checks = {name: OK if problem is None else DOWN for name, problem in found.items()}
    ok = all(v == OK for v in checks.values())
    body: dict[str, object] = {"status": "ok" if ok else "unavailable", "checks": checks}
    if found["database"] is None and _may_see_details(svc):
        body["details"] = {name: problem or OK for name, problem in found.items()}
    return jsonify(body), 200 if ok else 503
