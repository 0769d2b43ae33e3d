"""Processes wait for their dependencies, then exit with a clear message if they never come."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ocelot.dependencies import wait_for_dependencies
from ocelot.errors import DependencyUnavailable
from ocelot.settings import load_settings
from tests.servers import RedisServer, free_port


def test_wait_gives_up_with_the_dependency_named(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    settings = load_settings(
        {"OCELOT_HOME": str(tmp_path), "OCELOT_BROKER_URL": f"redis://127.0.0.1:{port}/0"}
    )
    start = time.monotonic()
    with pytest.raises(DependencyUnavailable, match=r"gave up after 2s waiting for redis: Redis"):
        wait_for_dependencies(settings, ["redis"], timeout=2)
    assert time.monotonic() - start >= 2


def test_wait_succeeds_once_redis_comes_up(tmp_path: Path) -> None:
    port = free_port()
    settings = load_settings(
        {"OCELOT_HOME": str(tmp_path), "OCELOT_BROKER_URL": f"redis://127.0.0.1:{port}/0"}
    )
    import threading

    servers: list[RedisServer] = []
    starter = threading.Timer(1.5, lambda: servers.append(RedisServer(tmp_path, port=port)))
    starter.start()
    try:
        wait_for_dependencies(settings, ["redis"], timeout=20)
    finally:
        starter.join()
        for server in servers:
            server.stop()


def test_worker_without_its_database_exits_with_a_message(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OCELOT_HOME": str(tmp_path),
        "OCELOT_DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.db'}",
        "OCELOT_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
        "OCELOT_DEPENDENCY_TIMEOUT": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3
    assert "ocelot worker: gave up after 1s waiting for database" in proc.stderr
    assert "ocelot admin migrate" in proc.stderr
    assert "Traceback" not in proc.stderr
