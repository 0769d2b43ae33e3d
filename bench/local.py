"""The figure "1-stage local-executor build" (issue 14, point 4), end to end and as server work.

End to end: a 1-stage build (``script: ["true"]``) on a real worker with the local executor,
from the API request to the build's ``end`` publication on Redis. Floor, same run: a no-op
Celery chain of the same 4 tasks (route, prepare, stage, finish) on the same broker.

Server work: the same 4 steps called one after the other in this process (no broker, no
Celery hop), with a local executor of its own, against the same database and repository.
Floor, same run: ``sh -c true`` (the stage itself is one process spawn). The steps' own
times and their database commits are reported too (``--steps`` prints them).

Runs are interleaved (floor, build, floor, build, ...) so that load from elsewhere on the
machine falls on both alike; medians. Target: <= 60 ms end to end, <= 30 ms of server work.

``python -m bench.local`` measures these figures alone on a stack of its own and prints them
(bench/RESULTS.md is left alone); ``make bench`` includes them (:func:`measure`).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis as redis_lib
from celery import chain
from sqlalchemy import event

from ocelot.db import session_scope
from ocelot.executors import make_executor
from ocelot.executors.local import LocalExecutor
from ocelot.runner import RunContext, finish, prepare, route, run_stage
from ocelot.services.builds import create_build
from tests.servers import RedisServer
from tests.stack import Stack, make_repo
from worker.app import make_celery

RUNS = int(os.environ.get("OCELOT_BENCH_RUNS", "10"))
YML = """\
machineTag: bench
buildTool: shell
branches: [ALL]
stages:
  - name: s0
    script: ["true"]
"""
STEPS = ("route", "prepare", "stage", "finish")

Row = tuple[str, str, str, str]


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _noop_chain(stack: Stack, app: Any, r: redis_lib.Redis, length: int = 4) -> float:
    key = f"bench:pong:{time.time_ns()}"
    steps = [app.signature("ocelot.maintenance.ping", args=[None]) for _ in range(length - 1)]
    steps.append(app.signature("ocelot.maintenance.ping", args=[key]))
    start = time.perf_counter()
    chain(*[s.set(queue="control", immutable=True) for s in steps]).apply_async()
    if r.blpop([key], timeout=60) is None:
        raise RuntimeError("no-op chain did not finish")
    return time.perf_counter() - start


def _build(stack: Stack, r: redis_lib.Redis, repo: str) -> float:
    """Seconds from the API request to the build's end publication."""
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("ocelot:logs:*")
    start = time.perf_counter()
    build_id = stack.build(repo, branch="master")
    channel = f"ocelot:logs:{build_id}".encode()
    deadline = start + 60
    while time.perf_counter() < deadline:
        msg = pubsub.get_message(timeout=1.0)
        if msg and msg["channel"] == channel and json.loads(msg["data"]).get("end"):
            break
    else:
        raise RuntimeError(f"build {build_id} did not end within 60 s")
    elapsed = time.perf_counter() - start
    pubsub.close()
    status = stack.get(build_id)["status"]
    if status != "PASSED":
        raise RuntimeError(f"build {build_id} {status}: {stack.logs(build_id)}")
    return elapsed


class _InProcess:
    """The 4 steps of a build, called directly (what the worker's tasks call)."""

    def __init__(self, stack: Stack, r: redis_lib.Redis, root: Path) -> None:
        settings = stack.settings.with_(
            worker_name="bench-inprocess",
            worker_executor="local",
            home=root,
        )
        executor = make_executor(settings)  # with the worker's limits, as a worker has it
        assert isinstance(executor, LocalExecutor)
        self.ctx = RunContext(settings=settings, engine=stack.engine, redis=r, _executor=executor)
        self.steps: dict[str, list[float]] = {name: [] for name in STEPS}
        self.commits: dict[str, int] = dict.fromkeys(STEPS, 0)
        self._commits = 0
        event.listen(stack.engine, "commit", self._count)

    def _count(self, _conn: Any) -> None:
        self._commits += 1

    def close(self) -> None:
        event.remove(self.ctx.engine, "commit", self._count)

    def _step(self, name: str, fn: Callable[[], Any]) -> Any:
        before, start = self._commits, time.perf_counter()
        result = fn()
        self.steps[name].append(time.perf_counter() - start)
        self.commits[name] = self._commits - before
        return result

    def build(self, repo: str) -> float:
        ctx = self.ctx
        with session_scope(ctx.engine) as session:
            build_id = create_build(session, repo, branch="master").id
        start = time.perf_counter()
        if self._step("route", lambda: route(ctx, build_id)) is None:
            raise RuntimeError(f"build {build_id} was not routed")
        prepared = self._step("prepare", lambda: prepare(ctx, build_id))
        if not isinstance(prepared, tuple):
            raise RuntimeError(f"build {build_id} was not prepared: {prepared!r}")
        attempt, _positions = prepared
        self._step("stage", lambda: run_stage(ctx, build_id, attempt, 0))
        status = self._step("finish", lambda: finish(ctx, build_id, attempt))
        elapsed = time.perf_counter() - start
        if status != "PASSED":
            raise RuntimeError(f"build {build_id} {status}")
        ctx.take_announcements()
        ctx.take_wakeups()
        return elapsed


def measure(stack: Stack, root: Path, runs: int = RUNS) -> tuple[list[Row], dict[str, Any]]:
    """The rows for bench/RESULTS.md and the steps' details (times and commits)."""
    r = redis_lib.Redis.from_url(stack.broker_url)
    make_repo(root / "local-repo", {"ocelot.yml": YML})
    repo = stack.add_repo(root / "local-repo", "bench/local")
    worker = stack.start_worker(
        "bench-local", executor="local", tags=("bench",), extra={"OCELOT_MAX_BUILDS": "2"}
    )
    app = make_celery(stack.settings)
    noop: list[float] = []
    e2e: list[float] = []
    try:
        _build(stack, r, repo)  # warm-up: the mirror's clone, the worker's imports
        _noop_chain(stack, app, r)
        for _ in range(runs):
            noop.append(_noop_chain(stack, app, r))
            e2e.append(_build(stack, r, repo))
    finally:
        stack.stop_worker(worker)
    inproc = _InProcess(stack, r, root / "inprocess")
    server: list[float] = []
    spawn: list[float] = []
    try:
        inproc.build(repo)  # warm-up
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(["sh", "-c", "true"], check=True)
            spawn.append(time.perf_counter() - start)
            server.append(inproc.build(repo))
    finally:
        inproc.close()
    over = _median_ms(e2e) - _median_ms(noop)
    rows: list[Row] = [
        (
            "1-stage local-executor build, trigger → finished (target <= 60 ms)",
            f"{_median_ms(e2e):.1f} ms",
            f"no-op chain of 4 tasks {_median_ms(noop):.1f} ms",
            f"{_median_ms(e2e) / _median_ms(noop):.2f}x (+{over:.0f} ms)",
        ),
        (
            "1-stage local-executor build, server work: its 4 steps in one process, "
            f"{sum(inproc.commits.values())} commits (target <= 30 ms)",
            f"{_median_ms(server):.1f} ms",
            f"`sh -c true` {_median_ms(spawn):.1f} ms",
            f"{_median_ms(server) / _median_ms(spawn):.1f}x",
        ),
    ]
    details = {
        name: {"ms": round(_median_ms(inproc.steps[name][1:]), 1), "commits": inproc.commits[name]}
        for name in STEPS
    }
    return rows, details


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="ocelot-bench-local-"))
    redis = RedisServer(root)
    (root / "stack").mkdir()
    stack = Stack(root / "stack", redis)
    try:
        rows, details = measure(stack, root)
    finally:
        stack.close()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)
    for row in rows:
        print(" | ".join(row))
    if "--steps" in sys.argv:
        for name, figures in details.items():
            print(f"  {name:8s} {figures['ms']:6.1f} ms  {figures['commits']} commits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
