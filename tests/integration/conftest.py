"""Integration tier: a real Redis, real Celery worker processes, a real Docker daemon, real
git repositories and a real (SQLite) database, all started here and stopped by pid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.servers import Process, RedisServer
from tests.stack import Stack, docker_ok, make_repo

__all__ = ["Stack", "make_repo"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
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
