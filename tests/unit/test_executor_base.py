"""The pieces executors share: output supervision and the docker wrapper's pid announcement."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocelot.executors import make_executor
from ocelot.executors.base import exit_status, supervise
from ocelot.executors.docker import DockerExecutor
from ocelot.executors.docker_exec import Leader as _Leader
from ocelot.settings import load_settings


def test_leader_announcement_is_stripped_even_when_split() -> None:
    leader = _Leader()
    chunks = [b"\x1eocelot-st", b"age-pid=42\nfirst", b" line\n"]
    assert b"".join(leader.strip(chunks)) == b"first line\n"
    assert leader.pid == 42


def test_output_without_announcement_passes_through() -> None:
    leader = _Leader()
    message = b"OCI runtime exec failed: chdir to cwd: no such file or directory\n"
    assert b"".join(leader.strip([message])) == message
    assert leader.pid is None


def test_exit_status_maps_signals_like_a_shell() -> None:
    assert (exit_status(-9), exit_status(3), exit_status(None)) == (137, 3, None)


def _forever() -> Iterator[bytes]:
    yield b"tick\n"
    while True:
        time.sleep(0.05)
        yield b""


def test_a_failing_callback_kills_the_stage_and_propagates() -> None:
    signals: list[signal.Signals] = []

    def on_output(chunk: bytes) -> None:
        raise RuntimeError("log store is down")

    with pytest.raises(RuntimeError, match="log store is down"):
        supervise(
            _forever(),
            on_output=on_output,
            should_stop=lambda: False,
            timeout=None,
            grace=1,
            send_signal=signals.append,
            close=lambda: None,
        )
    assert signals == [signal.SIGKILL]


def test_a_silent_stage_still_times_out() -> None:
    signals: list[signal.Signals] = []
    started = time.monotonic()

    def send(sig: signal.Signals) -> None:
        signals.append(sig)

    def silent() -> Iterator[bytes]:
        while signals[-1:] != [signal.SIGKILL]:
            time.sleep(0.05)
        return
        yield b""

    seen = supervise(
        silent(),
        on_output=lambda chunk: None,
        should_stop=lambda: False,
        timeout=0.3,
        grace=0.3,
        send_signal=send,
        close=lambda: None,
    )
    assert seen.timed_out and not seen.killed and seen.error is None
    assert signals == [signal.SIGTERM, signal.SIGKILL]
    assert time.monotonic() - started < 2


def test_make_executor_picks_docker_without_contacting_it(tmp_path: Path) -> None:
    settings = load_settings(
        {"OCELOT_HOME": str(tmp_path), "OCELOT_WORKER_NAME": "w1", "DOCKER_HOST": "tcp://x:1"}
    )
    executor = make_executor(settings)
    assert isinstance(executor, DockerExecutor)
    assert (executor.name, executor.worker, executor.docker_host) == ("docker", "w1", "tcp://x:1")
