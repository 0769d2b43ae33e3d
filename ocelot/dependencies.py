"""Start-up checks: wait for the database, Redis, Docker and Vault, then go or explain.

Every Ocelot process calls :func:`wait_for_dependencies` before serving: it retries each
dependency with backoff, logs what it is waiting for, and raises
:class:`~ocelot.errors.DependencyUnavailable` with a clear message when one never comes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from ocelot.errors import DependencyUnavailable, OcelotError
from ocelot.settings import Settings

log = logging.getLogger("ocelot.dependencies")


def check_database(settings: Settings) -> None:
    from ocelot.db import check_database as check
    from ocelot.db import make_engine

    check(make_engine(settings))


def check_redis(settings: Settings) -> None:
    import redis

    from ocelot.redis_client import describe_broker, make_redis

    try:
        make_redis(settings, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise DependencyUnavailable(f"{describe_broker(settings)} unreachable: {exc}") from None


def check_docker(settings: Settings) -> None:
    import docker

    try:
        client = (
            docker.DockerClient(base_url=settings.docker_host)
            if settings.docker_host
            else docker.from_env(timeout=5)
        )
        client.ping()
    except Exception as exc:  # noqa: BLE001 - docker-py raises many kinds
        raise DependencyUnavailable(f"the Docker daemon is unreachable: {exc}") from None


def check_vault(settings: Settings) -> None:
    if not settings.vault_addr:
        return
    import requests

    try:
        requests.get(f"{settings.vault_addr.rstrip('/')}/v1/sys/health", timeout=3)
    except requests.RequestException as exc:
        raise DependencyUnavailable(f"Vault at {settings.vault_addr} unreachable: {exc}") from None


CHECKS: dict[str, Callable[[Settings], None]] = {
    "database": check_database,
    "redis": check_redis,
    "docker": check_docker,
    "vault": check_vault,
}


def wait_for_dependencies(settings: Settings, needs: Iterable[str], timeout: float = 60.0) -> None:
    """Block until every dependency in ``needs`` answers, or raise after ``timeout``."""
    for name in needs:
        check = CHECKS[name]
        delay, deadline = 0.5, time.monotonic() + timeout
        while True:
            try:
                check(settings)
                break
            except OcelotError as exc:
                if time.monotonic() >= deadline:
                    raise DependencyUnavailable(
                        f"gave up after {timeout:.0f}s waiting for {name}: {exc.message}"
                    ) from None
                log.warning("waiting for %s (retry in %.1fs): %s", name, delay, exc.message)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
