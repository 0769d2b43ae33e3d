"""The workers registry with real worker processes (``python -m worker``), a real Redis and a
real database: a worker registers and beats; a second one started with its name exits 3
naming the holder; a clean stop frees the name; a SIGKILLed worker shows as lost.

Its own server side (own Redis, own database) and a heartbeat of 1 s, so it takes seconds;
every process started here is stopped by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.servers import RedisServer, stop
from tests.stack import Stack
from tests.waiting import eventually

pytestmark = [pytest.mark.slow]

NAME = "twin"


@pytest.fixture
def registry_stack(tmp_path: Path) -> Iterator[Stack]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    redis = RedisServer(tmp_path)
    stack = Stack(tmp_path / "stack", redis, db=0, env={"OCELOT_WORKER_HEARTBEAT": "1"})
    try:
        yield stack
    finally:
        stack.close()
        redis.stop()


def listed(stack: Stack) -> dict[str, dict[str, Any]]:
    resp = stack.client.get("/api/v1/workers", headers=stack.auth)
    assert resp.status_code == 200, resp.get_json()
    return {w["name"]: w for w in resp.get_json()["workers"]}


def log_tail(stack: Stack) -> str:
    return "\n".join(p.log.read_text(errors="replace")[-3000:] for p in stack.workers)


def start_duplicate(stack: Stack, log: Path) -> tuple[int, str]:
    """``python -m worker`` named like the running one; its exit code and stderr."""
    env = {
        **os.environ,
        **stack.env,
        "OCELOT_WORKER_NAME": NAME,
        "OCELOT_WORKER_EXECUTOR": "local",
        "OCELOT_DEPENDENCY_TIMEOUT": "10",
    }
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            code = proc.wait(60)
        finally:
            stop(proc)  # never left running, whatever happened
    return code, log.read_text(errors="replace")


def test_a_live_name_is_refused_and_a_clean_stop_frees_it(
    registry_stack: Stack, tmp_path: Path
) -> None:
    stack = registry_stack
    first = stack.start_worker(NAME, executor="local")

    def fresh() -> dict[str, Any] | None:
        worker = listed(stack).get(NAME)
        alive = worker and worker["state"] == "alive" and worker["last_seen_seconds"] < 2.5
        return worker if alive else None

    holder = eventually(fresh, 20, lambda: f"{NAME} alive in the registry\n{log_tail(stack)}")
    assert (holder["pid"], holder["host"]) == (first.proc.pid, socket.gethostname())
    assert (holder["executor"], holder["heartbeat_seconds"]) == ("local", 1.0)
    eventually(
        lambda: listed(stack)[NAME]["last_seen_at"] != holder["last_seen_at"],
        10,
        lambda: f"a newer heartbeat of {NAME}\n{log_tail(stack)}",
    )

    code, stderr = start_duplicate(stack, tmp_path / "duplicate.err")
    assert code == 3, stderr
    assert f"ocelot worker: the worker name '{NAME}' is taken" in stderr
    assert f"on host {socket.gethostname()} (pid {first.proc.pid})" in stderr
    assert "OCELOT_WORKER_NAME" in stderr
    assert "Traceback" not in stderr

    after = eventually(fresh, 10, lambda: f"{NAME} still alive\n{log_tail(stack)}")
    assert (after["boot_id"], after["pid"]) == (holder["boot_id"], first.proc.pid)

    stack.stop_worker(first)  # SIGTERM: a clean, warm shutdown
    stopped = listed(stack)[NAME]
    assert stopped["state"] == "stopped", (stopped, first.log.read_text()[-3000:])
    assert stopped["stopped_at"] is not None

    # The name is free at once; the new start has a boot of its own.
    second = stack.start_worker(NAME, executor="local")
    again = eventually(fresh, 20, lambda: f"{NAME} alive again\n{log_tail(stack)}")
    assert again["boot_id"] != holder["boot_id"] and again["pid"] == second.proc.pid

    # A worker that dies without a word shows as lost once 3 heartbeats are missed.
    os.killpg(second.proc.pid, signal.SIGKILL)
    stack.stop_worker(second)
    eventually(
        lambda: listed(stack)[NAME]["state"] == "lost",
        10,
        lambda: f"{NAME} lost: {listed(stack)[NAME]}",
    )
