"""How metrics are exposed, decided before any metric exists: the settings (port, address,
token) and prometheus-client's multiprocess directory.

This module must never import ``prometheus_client``: the library picks its value class
(in-memory or shared files) once, when it is first imported, from ``PROMETHEUS_MULTIPROC_DIR``.
So the process that forks the others (the gunicorn master, the Celery worker's main process)
sets that variable here *before* anything imports ``ocelot.metrics``, and every process forked
after it writes its samples to files in that directory, which a scrape adds up.

* :class:`MetricsConfig` — ``OCELOT_METRICS_PORT`` (the worker's own endpoint; 0 = off),
  ``OCELOT_METRICS_ADDR`` and ``OCELOT_METRICS_TOKEN`` (a bearer token a scrape must send, on
  the web app and the workers alike; unset = no token needed).
* :func:`use_multiprocess_dir` — the directory of one tree of processes: the one the operator
  gave in ``PROMETHEUS_MULTIPROC_DIR`` (emptied: its files are a previous run's), else a new
  temporary one, removed when the process that made it exits.
"""

from __future__ import annotations

import atexit
import hmac
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ocelot.errors import InvalidRequest

log = logging.getLogger("ocelot.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class MetricsConfig:
    """Where and to whom metrics are served."""

    port: int = 0  # the worker's metrics endpoint; 0 = none (the web serves /metrics anyway)
    addr: str = "0.0.0.0"  # all interfaces: Prometheus on another host scrapes each worker
    token: str | None = field(default=None, repr=False)

    def allows(self, authorization: str | None) -> bool:
        """Whether a request with this ``Authorization`` header may read the metrics: always
        when no token is configured, else only with ``Bearer <token>`` (constant time)."""
        if not self.token:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self.token.encode())


def load_metrics_config(env: Mapping[str, str]) -> MetricsConfig:
    """The metrics part of :func:`ocelot.settings.load_settings`."""
    raw = (env.get("OCELOT_METRICS_PORT") or "0").strip()
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise InvalidRequest(
            f"OCELOT_METRICS_PORT must be a TCP port (1-65535, or 0 for none), got {raw!r}"
        )
    return MetricsConfig(
        port=port,
        addr=(env.get("OCELOT_METRICS_ADDR") or MetricsConfig.addr).strip(),
        token=env.get("OCELOT_METRICS_TOKEN") or None,
    )


def multiprocess_dir() -> str | None:
    """The multiprocess directory of this process, or None (single-process mode)."""
    return os.environ.get(MULTIPROC_ENV) or None


def use_multiprocess_dir(purpose: str) -> Path:
    """Put this process, and every process it forks from now on, in multiprocess mode.

    Call it in the process that forks the others, before anything imports
    ``prometheus_client``. With ``PROMETHEUS_MULTIPROC_DIR`` set, that directory is used and
    emptied (its files are from an earlier run: added up, they would count it twice); else a
    new temporary directory ``ocelot-<purpose>-metrics-*`` is made and removed when this
    process exits (not when a forked child does)."""
    if "prometheus_client" in sys.modules and not multiprocess_dir():
        log.warning(
            "prometheus_client was imported before %s was set: the samples of forked "
            "processes will not be collected",
            MULTIPROC_ENV,
        )
    given = multiprocess_dir()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix=f"ocelot-{purpose}-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    atexit.register(_remove, path, os.getpid())
    return path


def _remove(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # a forked child runs the parent's atexit handlers too
        shutil.rmtree(path, ignore_errors=True)
