"""The figure "`ocelot build --wait` return lag after the build ends" (issue 14, point 1).

Each run starts ``ocelot build ... --wait`` as a real process (stdout a pipe: quiet) on a
1-stage Docker build that sleeps 1 s, so the CLI is already waiting when the build ends. The
lag is the time from the build's ``end`` publication on Redis (heard by this process) to
the CLI's exit; the median of the runs is the result.

Floor, measured in the same run: one ``ocelot status --build-id N`` of the same build, start
to exit, i.e. asking once by hand (what the CLI must still do after the end: one request, the
same summary, and exiting). Target: <= 0.3 s of lag (polling at 0.2 … 3 s gave ~3 s).

``python -m bench.cli_wait`` measures this figure alone on a stack of its own and prints it
(bench/RESULTS.md is left alone); ``make bench`` includes it (:func:`measure`, :func:`row`).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis as redis_lib

from tests.servers import RedisServer
from tests.stack import Stack, make_repo

RUNS = int(os.environ.get("OCELOT_BENCH_RUNS", "10"))
YML = """\
image: ocelot/busybox
buildTool: shell
branches: [ALL]
stages:
  - name: nap
    script: ["sleep 1"]
"""
_SCRIPT = Path(sys.executable).parent / "ocelot"  # the console script, as users run it
OCELOT = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "from ocelot.cli.main import main; main()"]
)


class EndTimes:
    """Hears every ``end`` publication of the stack's builds; ``at(build_id)`` is when
    (``time.monotonic()``) the one of that build came."""

    def __init__(self, broker_url: str) -> None:
        self._pubsub = redis_lib.Redis.from_url(broker_url).pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe("ocelot:logs:*")
        self._seen: dict[int, float] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True, name="end-times")
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            msg = self._pubsub.get_message(timeout=0.5)
            if not msg or msg.get("type") != "pmessage":
                continue
            now = time.monotonic()
            if json.loads(msg["data"]).get("end"):
                build_id = int(msg["channel"].rsplit(b":", 1)[1])
                with self._cond:
                    self._seen.setdefault(build_id, now)
                    self._cond.notify_all()

    def at(self, build_id: int, timeout: float = 30) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: build_id in self._seen, timeout):
                raise RuntimeError(f"no end publication of build {build_id}")
            return self._seen[build_id]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pubsub.close()


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OCELOT_URL": stack.url, "OCELOT_TOKEN": stack.token, "NO_COLOR": "1"}
    return subprocess.run(
        [*OCELOT, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def wait_lag(stack: Stack, repo: str, ends: EndTimes) -> tuple[float, int]:
    """One run: seconds from the build's end publication to the exit of ``build --wait``."""
    done = _cli(stack, "build", repo, "--branch", "master", "--wait")
    exited = time.monotonic()
    found = re.search(r"queued build #(\d+)", done.stdout)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"build --wait failed ({done.returncode}): {done.stdout}{done.stderr}")
    build_id = int(found.group(1))
    return exited - ends.at(build_id), build_id


def status_once(stack: Stack, build_id: int) -> float:
    """Seconds for one ``ocelot status --build-id N`` process, start to exit."""
    start = time.monotonic()
    done = _cli(stack, "status", "--build-id", str(build_id))
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        raise RuntimeError(f"status failed: {done.stderr}")
    return elapsed


def measure(stack: Stack, repo: str, runs: int = RUNS) -> dict[str, Any]:
    """Medians of the lag and of the floor over ``runs`` builds (after one warm-up)."""
    ends = EndTimes(stack.broker_url)
    try:
        wait_lag(stack, repo, ends)  # warm-up: mirror clone, worker imports
        lags, floors = [], []
        for _ in range(runs):
            lag, build_id = wait_lag(stack, repo, ends)
            lags.append(lag)
            floors.append(status_once(stack, build_id))
    finally:
        ends.close()
    return {"lag": statistics.median(lags), "floor": statistics.median(floors), "lags": lags}


def row(figures: dict[str, Any]) -> tuple[str, str, str, str]:
    """The RESULTS.md row of :func:`measure`'s figures: measurement, Ocelot, floor, ratio."""
    lag, floor = figures["lag"], figures["floor"]
    return (
        "`ocelot build --wait` return lag after the build ends (end event → CLI exit)",
        f"{lag * 1000:.0f} ms",
        f"one `ocelot status --build-id N` {floor * 1000:.0f} ms",
        f"{lag / floor:.2f}x",
    )


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="ocelot-bench-wait-"))
    redis = RedisServer(root)
    (root / "stack").mkdir()
    stack = Stack(root / "stack", redis)
    try:
        stack.start_worker("bench-wait")
        make_repo(root / "wait", {"ocelot.yml": YML})
        repo = stack.add_repo(root / "wait", "bench/wait")
        figures = measure(stack, repo)
        print("| measurement | Ocelot | floor (same run) | ratio |")
        print("|---|---|---|---|")
        print(f"| {' | '.join(row(figures))} |")
        lags = [round(x * 1000) for x in figures["lags"]]
        print(f"{len(lags)} runs, lags (ms): {lags}")
    finally:
        stack.close()
        redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
