"""Periodic discovery on Celery beat: ``ocelot.discovery.run`` every
``OCELOT_DISCOVER_INTERVAL`` seconds re-discovers each ``FORGE:ACCT`` of ``OCELOT_DISCOVER``
with ``track=True``, so a new repository with an ``ocelot.yml`` is tracked without anyone
running ``ocelot repos discover``. One account failing (forge down, no token) is logged and
does not stop the others; the next run tries again. Nothing is configured → nothing runs."""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from ocelot import queues
from ocelot.db import session_scope
from ocelot.errors import OcelotError
from ocelot.services import discovery
from ocelot.settings import Settings
from worker.app import app
from worker.base import OcelotTask

log = logging.getLogger(__name__)


def run_discovery(engine: Engine, settings: Settings) -> dict[str, list[str]]:
    """Track what each configured account gained: ``{"github:acme": ["acme/new"], ...}``."""
    try:
        targets = discovery.parse_targets(settings.discover)
    except OcelotError as exc:
        log.error("discovery is off: %s", exc.message)
        return {}
    added: dict[str, list[str]] = {}
    for forge, acct in targets:
        key = f"{forge}:{acct}"
        try:
            with session_scope(engine) as session:
                rows = discovery.discover(session, settings, acct, forge, track=True)
        except OcelotError as exc:  # ForgeError, NotFound (no token): try again next time
            log.warning("discovery of %s failed: %s", key, exc.message)
            continue
        added[key] = [r["full_name"] for r in rows if r["tracked"] == "new"]
        if added[key]:
            log.info("discovery of %s now tracks %s", key, ", ".join(added[key]))
    return added


@app.task(name=queues.DISCOVERY_RUN, bind=True)
def run(self: OcelotTask) -> dict[str, list[str]]:
    settings = self.settings
    if not settings.discover:
        return {}
    return run_discovery(self.ctx.engine, settings)
