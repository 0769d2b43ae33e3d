"""Typed settings: the only module that reads the server-side environment.

Every process (web, worker, beat, CLI admin commands) builds one :class:`Settings` with
:func:`load_settings` and passes it down; nothing else calls ``os.environ`` for configuration.
The names are part of Ocelot's interface (see README, "Configuration").
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from ocelot.errors import InvalidRequest
from ocelot.metrics_setup import MetricsConfig, load_metrics_config
from ocelot.redis_client import is_sentinel_url, parse_sentinel_url


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a number, got {raw!r}") from None


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    return (env.get(name) or default).rstrip("/")


_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smh]?)$", re.IGNORECASE)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def _size(env: Mapping[str, str], name: str, default: int) -> int:
    """Bytes from ``1048576``, ``512k``, ``256m``, ``2g``, ``1.5GiB`` (binary units, like
    docker's ``--memory``); ``0`` stays 0 (no limit)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    match = _SIZE_RE.match(raw)
    if match is None:
        raise InvalidRequest(
            f"{name} must be a size in bytes, optionally with a unit k, m, g or t "
            f"(e.g. 512m, 2g; 0 = no limit), got {raw!r}"
        )
    return int(float(match[1]) * _SIZE_UNITS[match[2].lower()])


def _duration(env: Mapping[str, str], name: str, default: float) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``1h``, ``1.5h``; ``0`` stays 0 (none)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    match = _DURATION_RE.match(raw)
    if match is None:
        raise InvalidRequest(
            f"{name} must be a duration in seconds, or with a unit s, m or h "
            f"(e.g. 3600, 90m, 1h; 0 = none), got {raw!r}"
        )
    return float(match[1]) * _DURATION_UNITS[match[2].lower()]


_N = TypeVar("_N", int, float)


def _limit(name: str, value: _N, minimum: _N, shown: str = "") -> _N:
    """``value`` if it is 0 (no limit) or at least ``minimum`` (``shown`` in the message)."""
    if value and not (value >= minimum and math.isfinite(value)):
        raise InvalidRequest(
            f"{name} must be at least {shown or minimum} (or 0 for no limit), got {value}"
        )
    return value


def _positive(name: str, value: float) -> float:
    """``value`` if it is a finite number above 0, else InvalidRequest naming ``name``."""
    if not (value > 0 and math.isfinite(value)):
        raise InvalidRequest(f"{name} must be a number of seconds above 0, got {value}")
    return value


def _broker_url(env: Mapping[str, str]) -> str:
    """``OCELOT_BROKER_URL``; a Sentinel list is checked here, so a typo stops every process
    at start with the reason (:mod:`ocelot.redis_client`)."""
    url = (env.get("OCELOT_BROKER_URL") or "redis://127.0.0.1:6379/0").strip()
    if is_sentinel_url(url):
        parse_sentinel_url(url)
    return url


@dataclass(frozen=True)
class Settings:
    """Server-side configuration. Defaults need nothing but a writable home directory."""

    home: Path
    database_url: str
    broker_url: str
    sentinel_master: str = "mymaster"  # OCELOT_SENTINEL_MASTER: a sentinel:// broker's primary
    sentinel_password: str | None = field(default=None, repr=False)  # the Sentinels' own
    public_url: str = "http://127.0.0.1:5000"
    secret_key: str | None = field(default=None, repr=False)
    worker_name: str = field(default_factory=socket.gethostname)
    instance: str = ""  # OCELOT_INSTANCE; "" = the id stored in the database (installation)
    worker_tags: tuple[str, ...] = ()
    worker_executor: str = "docker"
    max_builds: int = 2
    worker_heartbeat: float = 5.0  # seconds between a worker's registry heartbeats
    keep_containers: bool = False
    # Docker: fresh, never-used build containers kept ready for recently used images
    # (OCELOT_WARM_CONTAINERS; 0 = none, every build creates its own). See warm_pool.py.
    warm_containers: int = 2
    kill_grace_seconds: float = 10.0
    max_body_bytes: int = 5 * 1024 * 1024
    dependency_timeout: float = 60.0
    janitor_age_seconds: float = 24 * 3600.0
    lease_seconds: float = 30.0
    worker_lost_retries: int = 2
    reconcile_after_seconds: float = 120.0
    log_flush_seconds: float = 0.25
    log_flush_bytes: int = 64 * 1024
    # Where chunks' text goes: "sql" (the rows) or "files" (append-only files per build under
    # log_dir, which the web and every worker must see: one host or a shared volume).
    log_store: str = "sql"
    log_dir: Path | None = None  # OCELOT_LOG_DIR; None = <home>/logs
    log_retention_days: float = 0  # logs of builds finished longer ago are removed; 0 = keep
    # Fences of build containers (docker; the local executor applies only the memory limit,
    # as RLIMIT_AS). 0 means no limit / no default timeout.
    build_memory: int = 4 * 1024**3  # bytes; the container gets no swap beyond it
    build_cpus: float = 2.0  # capped at the docker host's CPU count
    build_pids: int = 1024
    build_timeout_seconds: float = 3600.0  # when ocelot.yml sets no `timeout`
    max_log_bytes: int = 256 * 1024**2  # per build attempt; output past it is discarded
    docker_host: str | None = None
    vault_addr: str | None = None
    vault_token: str | None = field(default=None, repr=False)
    vault_token_file: str | None = None
    vault_mount: str = "secret"
    vault_prefix: str = "ocelot"
    # Forge API roots (issue 3): self-hosted forges, and fake forges in tests.
    github_api_url: str = "https://api.github.com"
    gitlab_api_url: str = "https://gitlab.com/api/v4"
    bitbucket_api_url: str = "https://api.bitbucket.org/2.0"
    discover: str = ""  # "github:acme,gitlab:group1": accounts beat re-discovers (issue 3)
    discover_interval: float = 3600.0
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "ocelot@localhost"
    slack_api_url: str = "https://slack.com/api/"
    slack_webhook_url: str | None = field(default=None, repr=False)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)  # OCELOT_METRICS_*

    @property
    def workspaces(self) -> Path:
        return self.home / "workspaces"

    @property
    def mirrors(self) -> Path:
        return self.home / "mirrors"

    @property
    def logs(self) -> Path:
        """The file store's directory (``OCELOT_LOG_DIR``, default ``<home>/logs``)."""
        return self.log_dir or self.home / "logs"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _log_store(value: str | None) -> str:
    store = (value or "sql").strip().lower()
    if store not in {"sql", "files"}:
        raise InvalidRequest(f"OCELOT_LOG_STORE must be 'sql' or 'files', got {value!r}")
    return store


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    home = Path(env.get("OCELOT_HOME") or Path.home() / ".ocelot").expanduser()
    database_url = env.get("OCELOT_DATABASE_URL") or f"sqlite:///{home / 'ocelot.db'}"
    tags = tuple(t.strip() for t in (env.get("OCELOT_WORKER_TAGS") or "").split(",") if t.strip())
    executor = (env.get("OCELOT_WORKER_EXECUTOR") or "docker").strip().lower()
    if executor not in {"docker", "local"}:
        raise InvalidRequest(
            f"OCELOT_WORKER_EXECUTOR must be 'docker' or 'local', got {executor!r}"
        )
    return Settings(
        home=home,
        database_url=database_url,
        broker_url=_broker_url(env),
        sentinel_master=(env.get("OCELOT_SENTINEL_MASTER") or "mymaster").strip(),
        sentinel_password=env.get("OCELOT_SENTINEL_PASSWORD") or None,
        public_url=(env.get("OCELOT_PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/"),
        secret_key=env.get("OCELOT_SECRET_KEY") or None,
        worker_name=env.get("OCELOT_WORKER_NAME") or socket.gethostname(),
        # OCELOT_INSTANCE only: the installation id is stored in the database and resolved
        # where an engine exists (ocelot.installation.instance_id).
        instance=(env.get("OCELOT_INSTANCE") or "").strip(),
        worker_tags=tags,
        worker_executor=executor,
        max_builds=_int(env, "OCELOT_MAX_BUILDS", 2),
        worker_heartbeat=_positive(
            "OCELOT_WORKER_HEARTBEAT", _float(env, "OCELOT_WORKER_HEARTBEAT", 5.0)
        ),
        keep_containers=_bool(env.get("OCELOT_KEEP_CONTAINERS")),
        warm_containers=_limit("OCELOT_WARM_CONTAINERS", _int(env, "OCELOT_WARM_CONTAINERS", 2), 0),
        kill_grace_seconds=_float(env, "OCELOT_KILL_GRACE", 10.0),
        max_body_bytes=_int(env, "OCELOT_MAX_BODY_BYTES", 5 * 1024 * 1024),
        log_flush_seconds=_float(env, "OCELOT_LOG_FLUSH_SECONDS", 0.25),
        log_store=_log_store(env.get("OCELOT_LOG_STORE")),
        log_dir=Path(env["OCELOT_LOG_DIR"]).expanduser() if env.get("OCELOT_LOG_DIR") else None,
        log_retention_days=_limit(
            "OCELOT_LOG_RETENTION_DAYS", _float(env, "OCELOT_LOG_RETENTION_DAYS", 0), 0
        ),
        lease_seconds=_float(env, "OCELOT_LEASE_SECONDS", 30.0),
        janitor_age_seconds=_float(env, "OCELOT_JANITOR_AGE", 24 * 3600.0),
        dependency_timeout=_float(env, "OCELOT_DEPENDENCY_TIMEOUT", 60.0),
        worker_lost_retries=_int(env, "OCELOT_WORKER_LOST_RETRIES", 2),
        reconcile_after_seconds=_float(env, "OCELOT_RECONCILE_AFTER", 120.0),
        build_memory=_limit(
            "OCELOT_BUILD_MEMORY",
            _size(env, "OCELOT_BUILD_MEMORY", Settings.build_memory),
            6 << 20,
            "6m",
        ),
        build_cpus=_limit("OCELOT_BUILD_CPUS", _float(env, "OCELOT_BUILD_CPUS", 2.0), 0.01),
        build_pids=_limit("OCELOT_BUILD_PIDS", _int(env, "OCELOT_BUILD_PIDS", 1024), 16),
        build_timeout_seconds=_duration(env, "OCELOT_BUILD_TIMEOUT", 3600.0),
        max_log_bytes=_limit(
            "OCELOT_MAX_LOG_BYTES",
            _size(env, "OCELOT_MAX_LOG_BYTES", Settings.max_log_bytes),
            1024,
            "1k",
        ),
        docker_host=env.get("DOCKER_HOST") or None,
        vault_addr=env.get("VAULT_ADDR") or None,
        vault_token=env.get("VAULT_TOKEN") or None,
        vault_token_file=env.get("VAULT_TOKEN_FILE") or None,
        vault_mount=(env.get("OCELOT_VAULT_MOUNT") or "secret").strip("/"),
        vault_prefix=(env.get("OCELOT_VAULT_PREFIX") or "ocelot").strip("/"),
        github_api_url=_url(env, "OCELOT_GITHUB_API_URL", Settings.github_api_url),
        gitlab_api_url=_url(env, "OCELOT_GITLAB_API_URL", Settings.gitlab_api_url),
        bitbucket_api_url=_url(env, "OCELOT_BITBUCKET_API_URL", Settings.bitbucket_api_url),
        discover=(env.get("OCELOT_DISCOVER") or "").strip(),
        discover_interval=_float(env, "OCELOT_DISCOVER_INTERVAL", 3600.0),
        smtp_host=env.get("OCELOT_SMTP_HOST") or None,
        smtp_port=_int(env, "OCELOT_SMTP_PORT", 25),
        smtp_starttls=_bool(env.get("OCELOT_SMTP_STARTTLS")),
        smtp_user=env.get("OCELOT_SMTP_USER") or None,
        smtp_password=env.get("OCELOT_SMTP_PASSWORD") or None,
        smtp_from=env.get("OCELOT_SMTP_FROM") or "ocelot@localhost",
        slack_api_url=env.get("OCELOT_SLACK_API_URL") or "https://slack.com/api/",
        slack_webhook_url=env.get("OCELOT_SLACK_WEBHOOK_URL") or None,
        metrics=load_metrics_config(env),
    )
