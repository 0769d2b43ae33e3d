"""The local executor with real processes in a temporary workspace directory."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from ocelot.errors import ExecutorError
from ocelot.executors import make_executor
from ocelot.executors.base import BuildKey, StageOutcome
from ocelot.executors.local import LocalExecutor
from ocelot.settings import load_settings
from tests.executor_support import Run
from tests.executor_support import run as run_stage
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(tmp_path / "workspaces", "test-worker")


@pytest.fixture
def key() -> BuildKey:
    return BuildKey(random.randrange(10**9, 2 * 10**9), 1)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "sub").mkdir(parents=True)
    (root / "README").write_text("hello from the checkout\n")
    (root / "link").symlink_to("README")
    return root


@pytest.fixture
def workspace(executor: LocalExecutor, key: BuildKey, checkout: Path) -> str:
    return executor.prepare(key, checkout, None, {})


def run(executor: LocalExecutor, key: BuildKey, workdir: str, script: str, **kw: Any) -> Run:
    return run_stage(executor, key, script, workdir=workdir, **kw)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_executor_picks_local(tmp_path: Path) -> None:
    settings = load_settings({"OCELOT_HOME": str(tmp_path), "OCELOT_WORKER_EXECUTOR": "local"})
    executor = make_executor(settings)
    assert isinstance(executor, LocalExecutor)
    assert executor.workspaces == tmp_path / "workspaces"


def test_stage_sees_env_workdir_and_checkout(
    executor: LocalExecutor, key: BuildKey, workspace: str, checkout: Path
) -> None:
    assert Path(workspace) == executor.workspaces / f"{key.build_id}-1"
    assert Path(workspace).is_absolute()
    result = run(
        executor,
        key,
        workspace,
        "pwd; echo $GREETING; cat README link; echo $HOME",
        env={"GREETING": "hi"},
    )
    assert result.outcome == StageOutcome(exit_code=0)
    home = os.environ.get("HOME", "/")
    assert result.output == f"{workspace}\nhi\n" + "hello from the checkout\n" * 2 + f"{home}\n"
    (Path(workspace) / "README").write_text("changed")
    assert (checkout / "README").read_text() == "hello from the checkout\n"  # a copy


def test_output_arrives_while_the_stage_runs(
    executor: LocalExecutor, key: BuildKey, workspace: str
) -> None:
    result = run(executor, key, workspace, "echo first; sleep 1; echo second >&2")
    assert result.output == "first\nsecond\n"
    assert result.chunks[0][0] < result.elapsed - 0.7, result.chunks


def test_exit_code_is_reported(executor: LocalExecutor, key: BuildKey, workspace: str) -> None:
    assert run(executor, key, workspace, "exit 3").outcome == StageOutcome(exit_code=3)


def test_timeout_kills_the_stage(executor: LocalExecutor, key: BuildKey, workspace: str) -> None:
    result = run(executor, key, workspace, "sleep 30", timeout=1)
    assert result.outcome.timed_out and not result.outcome.killed
    assert result.outcome.exit_code == 128 + 15
    assert result.elapsed < 4


def test_stop_escalates_to_sigkill_after_grace(
    executor: LocalExecutor, key: BuildKey, workspace: str
) -> None:
    started = time.monotonic()
    result = run(
        executor,
        key,
        workspace,
        "trap '' TERM; sleep 30 & echo $! > bg.pid; sleep 31",
        should_stop=lambda: time.monotonic() - started > 0.3,
        grace=1,
    )
    assert result.outcome.killed and not result.outcome.timed_out
    assert result.outcome.exit_code == 128 + 9
    assert 1.2 < result.elapsed < 1 + 5
    background = int((Path(workspace) / "bg.pid").read_text())
    # the whole process group died
    eventually(lambda: not alive(background), 2, "the background process to die", interval=0.05)


def test_stop_lets_the_stage_exit_gracefully(
    executor: LocalExecutor, key: BuildKey, workspace: str
) -> None:
    started = time.monotonic()
    result = run(
        executor,
        key,
        workspace,
        "trap 'echo cleaning up; exit 5' TERM; echo ready; while :; do sleep 0.1; done",
        should_stop=lambda: time.monotonic() - started > 0.3,
        grace=10,
    )
    assert result.outcome == StageOutcome(exit_code=5, killed=True)
    assert "cleaning up\n" in result.output
    assert result.elapsed < 3


def test_background_process_does_not_hold_the_stage(
    executor: LocalExecutor, key: BuildKey, workspace: str
) -> None:
    result = run(executor, key, workspace, "sleep 30 & echo $! > bg.pid; echo started")
    os.kill(int((Path(workspace) / "bg.pid").read_text()), 9)  # leave nothing behind
    assert result.outcome == StageOutcome(exit_code=0)
    assert result.output == "started\n"
    assert result.elapsed < 4


def test_images_are_refused(executor: LocalExecutor, key: BuildKey, workspace: str) -> None:
    with pytest.raises(ExecutorError, match="cannot run images"):
        executor.run_stage(
            key,
            "s",
            ["true"],
            {},
            workspace,
            image="alpine",
            on_output=lambda b: None,
            should_stop=lambda: False,
            timeout=None,
            grace=1,
        )


def test_destroy_removes_the_workspace(
    executor: LocalExecutor, key: BuildKey, workspace: str
) -> None:
    executor.destroy(key)
    assert not Path(workspace).exists()
    assert list(executor.workspaces.iterdir()) == []
    executor.destroy(key)  # idempotent


def test_prepare_again_starts_from_a_fresh_workspace(
    executor: LocalExecutor, key: BuildKey, workspace: str, checkout: Path
) -> None:
    (Path(workspace) / "stale").touch()
    assert executor.prepare(key, checkout, None, {}) == workspace
    assert sorted(p.name for p in Path(workspace).iterdir()) == ["README", "link", "sub"]


def test_missing_checkout_is_an_error(
    executor: LocalExecutor, key: BuildKey, tmp_path: Path
) -> None:
    with pytest.raises(ExecutorError, match="is not a directory"):
        executor.prepare(key, tmp_path / "nope", None, {})


def test_cleanup_removes_only_own_rejected_workspaces(
    executor: LocalExecutor, checkout: Path, tmp_path: Path
) -> None:
    running, crashed = BuildKey(1, 1), BuildKey(2, 1)
    executor.prepare(running, checkout, None, {})
    executor.prepare(crashed, checkout, None, {})
    other = LocalExecutor(executor.workspaces, "other-worker")
    theirs = Path(other.prepare(BuildKey(3, 1), checkout, None, {}))
    removed = executor.cleanup("test-worker", lambda k: k == running)
    assert removed == [str(executor.workspaces / "2-1")]
    assert executor.workspace(running).is_dir() and theirs.is_dir()
