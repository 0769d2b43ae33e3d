"""Shared fixtures. The tier marker comes from the directory (unit, functional, integration).

Real servers: a Redis per session, a PostgreSQL cluster per session (for the ``postgres``
half of the functional tier), each on a free loopback port and stopped by pid at the end.
Under CI (``CI=true``) a missing server is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import PG_BIN, PostgresServer, Process, RedisServer
from tests.stack import Stack, docker_ok

TIERS = ("unit", "functional", "integration")
# tests/security/ holds outsiders' probes against the real stack: integration tier, own marker.
TIER_OF_DIR = {"unit": "unit", "functional": "functional", "integration": "integration",
               "security": "integration"}  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for directory, tier in TIER_OF_DIR.items():
            if directory in parts:
                item.add_marker(getattr(pytest.mark, tier))
                if directory == "security":
                    item.add_marker(pytest.mark.security)


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


@pytest.fixture(params=["sqlite", "postgres"])
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


@pytest.fixture(scope="session")
def docker_worker(stack: Stack) -> Process:
    ok, reason = docker_ok()
    require(ok, reason)
    return stack.start_worker("docker-1")


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return tmp_path / "repo"
