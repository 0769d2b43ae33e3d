"""Shared fixtures. The tier marker comes from the directory (unit, functional, integration;
security is integration with a marker of its own); a test anywhere else fails the collection.

Real servers: a Redis per session, a PostgreSQL cluster per session (for the ``postgres``
half of the functional tier), each on a free loopback port and stopped by pid at the end.
Under CI (``CI=true``) a missing server is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.servers import PG_BIN, PostgresServer, Process, RedisServer
from tests.stack import Stack, docker_ok

TIERS = ("unit", "functional", "integration")
# tests/security/ holds outsiders' probes against the real stack: integration tier, own marker.
TIER_OF_DIR = {"unit": "unit", "functional": "functional", "integration": "integration",
               "security": "integration"}  # fmt: skip


def tier_directory(path: Path, tests_root: Path) -> str | None:
    """The tier directory of the test file at ``path``: the directory right under
    ``tests_root`` when it is one of :data:`TIER_OF_DIR` (unit, functional, integration,
    security), else None — a test file anywhere else is outside the tiers."""
    try:
        relative = path.resolve().relative_to(tests_root.resolve())
    except ValueError:
        return None
    if len(relative.parts) < 2 or relative.parts[0] not in TIER_OF_DIR:
        return None
    return relative.parts[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier (and ``security``, ``postgres`` where they apply); a
    test outside the tiers is a usage error, so nothing runs unmarked by accident."""
    tests_root = config.rootpath / "tests"
    strays = []
    for item in items:
        directory = tier_directory(Path(str(item.path)), tests_root)
        if directory is None:
            strays.append(item.nodeid)
            continue
        item.add_marker(getattr(pytest.mark, TIER_OF_DIR[directory]))
        if directory == "security":
            item.add_marker(pytest.mark.security)
        if "postgres_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
    if strays:
        raise pytest.UsageError(
            f"{len(strays)} test(s) outside the tiers: {', '.join(strays)}. Every test lives "
            f"under {tests_root}/unit, functional, integration or security (the directory is "
            "its tier and its marker)."
        )


def require(ok: bool, reason: str) -> None:
    """Skip with a printed reason locally; fail under CI, where every tier must run."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"required for CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    require((PG_BIN / "initdb").exists(), f"PostgreSQL is not installed ({PG_BIN})")
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ocelot.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
    """One server side for the integration and security tiers (Redis database 1)."""
    s = Stack(tmp_path_factory.mktemp("stack"), redis_server)
    yield s
    s.close()


@pytest.fixture
def docker_client() -> Iterator[docker.DockerClient]:
    """A client of this machine's Docker daemon (the test skips, saying why, without one)."""
    ok, reason = docker_ok()
    require(ok, reason)
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_worker(stack: Stack) -> Process:
    ok, reason = docker_ok()
    require(ok, reason)
    return stack.start_worker("docker-1")


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return tmp_path / "repo"
