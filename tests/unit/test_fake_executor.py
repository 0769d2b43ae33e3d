"""The scripted executor (tests/fakes/executor.py) keeps to the Executor Protocol, so the
runner's functional tier tests the runner against the contract the real executors keep."""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import pytest

from ocelot.errors import ExecutorError
from ocelot.executors import BuildKey, Executor
from tests.executor_support import run
from tests.fakes.executor import ScriptedExecutor, script_lines

KEY = BuildKey(7, 1)


@pytest.mark.parametrize("method", ["prepare", "run_stage", "destroy", "cleanup"])
def test_its_methods_take_what_the_protocol_passes(method: str) -> None:
    def shape(function: object) -> list[tuple[str, object, bool]]:
        parameters = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
        return [(p.name, p.kind, p.default is inspect.Parameter.empty) for p in parameters]

    assert shape(getattr(ScriptedExecutor, method)) == shape(getattr(Executor, method))


@pytest.fixture
def executor(tmp_path: Path) -> ScriptedExecutor:
    fake = ScriptedExecutor()
    (tmp_path / "ocelot.yml").write_text("stages: []\n")
    assert fake.prepare(KEY, tmp_path, "ocelot/busybox", {}) == "/scripted/7-1"
    assert fake.checkouts[KEY] == {"ocelot.yml": "stages: []\n"}
    return fake


def test_the_script_is_the_lines_after_the_cd() -> None:
    argv = ["sh", "-c", "cd /scripted/7-1 && echo 'a b' && exit 3"]
    assert script_lines(argv) == [["echo", "a b"], ["exit", "3"]]
    with pytest.raises(ExecutorError, match="sh -c"):
        script_lines(["make", "test"])


def test_output_and_exit_codes_come_from_the_script(executor: ScriptedExecutor) -> None:
    result = run(executor, KEY, "echo hello && env WHO && exit 5 && echo never", env={"WHO": "me"})
    assert result.output == "hello\nWHO=me\n"
    assert result.outcome.exit_code == 5 and not result.outcome.killed
    assert run(executor, KEY, "frobnicate").outcome.exit_code == 127


def test_a_stop_request_ends_a_sleep_with_sigterm(executor: ScriptedExecutor) -> None:
    started = time.monotonic()
    result = run(executor, KEY, "sleep 30", should_stop=lambda: time.monotonic() > started + 0.3)
    assert result.outcome.killed and result.outcome.exit_code == 143
    assert result.elapsed < 2


def test_a_trapped_sigterm_waits_for_the_sigkill_after_the_grace(
    executor: ScriptedExecutor,
) -> None:
    result = run(executor, KEY, "trap-term && sleep 30", timeout=0.2, grace=0.5)
    assert result.outcome.timed_out and result.outcome.exit_code == 137
    assert 0.6 < result.elapsed < 3


def test_fail_first_fails_the_first_runs_of_a_stage(executor: ScriptedExecutor) -> None:
    codes = [run(executor, KEY, "fail-first 2").outcome.exit_code for _ in range(3)]
    assert codes == [1, 1, 0]


def test_calls_are_recorded_and_destroy_removes_the_environment(
    executor: ScriptedExecutor,
) -> None:
    run(executor, KEY, "echo hi")
    executor.destroy(KEY)
    executor.destroy(KEY)  # idempotent
    assert [c.method for c in executor.calls] == ["prepare", "run_stage", "destroy", "destroy"]
    assert executor.environments == set()
    with pytest.raises(ExecutorError, match="not found"):
        run(executor, KEY, "echo hi")
