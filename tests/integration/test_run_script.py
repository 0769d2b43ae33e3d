"""``make run`` (scripts/run.sh): Ctrl-C stops the Redis it started, and only that one.

The processes are stand-ins (``python`` and ``honcho`` on PATH are small scripts), the Redis
is real: the script starts it daemonized, in its own session, out of reach of the terminal's
SIGINT, which is why it has to be stopped on purpose.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import require
from tests.servers import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
HONCHO = """#!/usr/bin/env bash
trap 'echo honcho stopped; exit 130' INT TERM
echo honcho up
while :; do sleep 0.1; done
"""


def _ping(port: int) -> bool:
    done = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
    return done.stdout.strip() == "PONG"


def _ctrl_c_run(tmp_path: Path, port: int) -> str:
    """Run scripts/run.sh until honcho is up, then do what Ctrl-C does (SIGINT to the whole
    foreground process group); return its output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").write_text("#!/bin/sh\nexit 0\n")  # the key and the bootstrap
    (bin_dir / "honcho").write_text(HONCHO)
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "OCELOT_HOME": str(tmp_path / f"home-{port}"),
        "OCELOT_REDIS_PORT": str(port),
        "OCELOT_SECRET_KEY": "test",
    }
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "run.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, like a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None
    lines = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "honcho up" in line or not line:
                break
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return "".join(lines) + rest


@pytest.fixture
def tools() -> None:
    for tool in ("redis-server", "redis-cli"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")


def test_ctrl_c_stops_the_redis_that_make_run_started(tools: None, tmp_path: Path) -> None:
    port = free_port()
    pidfile = tmp_path / f"home-{port}" / "redis" / "redis.pid"
    try:
        out = _ctrl_c_run(tmp_path, port)
        assert "starting redis-server" in out and "honcho stopped" in out, out
        assert "stopping the redis-server this run started" in out, out
        assert not _ping(port), out
    finally:  # never leave a server behind, whatever failed above
        if pidfile.exists() and _ping(port):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_ctrl_c_leaves_a_redis_it_did_not_start_running(tools: None, tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)
    try:
        out = _ctrl_c_run(tmp_path, redis.port)
        assert "honcho stopped" in out and "starting redis-server" not in out, out
        assert _ping(redis.port)
    finally:
        redis.stop()
