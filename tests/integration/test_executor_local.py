"""The local executor with real processes in a temporary workspace directory."""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ocelot import gitops
from ocelot.errors import ExecutorError, SourceError
from ocelot.executors import make_executor
from ocelot.executors.base import BuildKey, ResourceLimits, StageOutcome
from ocelot.executors.local import LocalExecutor
from ocelot.settings import load_settings
from tests.executor_support import Run
from tests.executor_support import run as run_stage
from tests.stack import make_repo
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


# -- checking out straight from the mirror (LocalExecutor.check_out) ----------------------------


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, Path]:
    """A repository with two branches and its mirror: ``(origin, mirror)``."""
    origin = tmp_path / "origin"
    make_repo(origin, {"README": "on master\n"}, message="first on master")
    make_repo(origin, {"README": "on topic\n", "topic.txt": "t\n"}, branch="topic", message="t1")
    return origin, gitops.sync_mirror(tmp_path / "mirrors", "1", str(origin))


def test_check_out_makes_a_git_checkout_at_the_commit(
    executor: LocalExecutor, key: BuildKey, mirror: tuple[Path, Path]
) -> None:
    origin, bare = mirror
    commit = _git("rev-parse", "topic", cwd=origin)
    workspace = executor.check_out(key, bare, commit)
    assert Path(workspace) == (executor.workspaces / key.slug).resolve()
    result = run(
        executor,
        key,
        workspace,
        "git rev-parse HEAD; git log -2 --format=%s; git status --porcelain; cat README",
    )
    assert result.outcome == StageOutcome(exit_code=0), result.output
    assert result.output.split("\n")[:4] == [commit, "t1", "first on master", "on topic"]
    assert "topic.txt" in os.listdir(workspace)


def test_check_out_leaves_the_mirror_alone(
    executor: LocalExecutor, key: BuildKey, mirror: tuple[Path, Path]
) -> None:
    """The workspace registers nothing in the mirror (no worktree), and what a stage commits
    stays in the workspace: removing it is all the clean-up there is."""
    origin, bare = mirror
    refs = _git("for-each-ref", cwd=bare)
    workspace = executor.check_out(key, bare, _git("rev-parse", "master", cwd=origin))
    script = (
        "git -c user.name=s -c user.email=s@x commit -q --allow-empty -m mine && "
        "git tag mine && git rev-parse HEAD"
    )
    made = run(executor, key, workspace, script)
    assert made.outcome == StageOutcome(exit_code=0), made.output
    new = made.output.strip()
    assert gitops.has_commit(Path(workspace), new)
    assert not gitops.has_commit(bare, new)
    assert _git("for-each-ref", cwd=bare) == refs
    assert not (bare / "worktrees").exists()
    executor.destroy(key)
    assert list(executor.workspaces.iterdir()) == []
    assert _git("worktree", "list", "--porcelain", cwd=bare).count("worktree ") == 1
    _git("fsck", "--no-progress", cwd=bare)


def test_concurrent_check_outs_of_one_repository(
    executor: LocalExecutor, mirror: tuple[Path, Path]
) -> None:
    """Builds of both branches check out of one mirror at once, while it is fetched again:
    each gets its own commit's files, and nothing is left once they are destroyed."""
    origin, bare = mirror
    commits = {b: _git("rev-parse", b, cwd=origin) for b in ("master", "topic")}
    keys = [BuildKey(100 + n, 1) for n in range(8)]
    wanted = {k: ("master", "topic")[n % 2] for n, k in enumerate(keys)}
    errors: list[BaseException] = []

    def check_out(k: BuildKey) -> None:
        try:
            executor.check_out(k, bare, commits[wanted[k]])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=check_out, args=(k,)) for k in keys]
    fetch = threading.Thread(
        target=lambda: gitops.sync_mirror(bare.parent, "1", str(origin)), daemon=True
    )
    for thread in [fetch, *threads]:
        thread.start()
    for thread in [fetch, *threads]:
        thread.join(60)
    assert errors == []
    for k in keys:
        workspace = executor.workspace(k)
        assert _git("rev-parse", "HEAD", cwd=workspace) == commits[wanted[k]]
        assert (workspace / "README").read_text() == f"on {wanted[k]}\n"
        assert _git("status", "--porcelain", cwd=workspace) == ""
    for k in keys:
        executor.destroy(k)
    assert list(executor.workspaces.iterdir()) == []
    assert not (bare / "worktrees").exists()


def test_check_out_again_starts_from_a_fresh_workspace(
    executor: LocalExecutor, key: BuildKey, mirror: tuple[Path, Path]
) -> None:
    origin, bare = mirror
    workspace = executor.check_out(key, bare, _git("rev-parse", "topic", cwd=origin))
    (Path(workspace) / "stale").touch()
    assert executor.check_out(key, bare, _git("rev-parse", "master", cwd=origin)) == workspace
    assert sorted(os.listdir(workspace)) == [".git", "README"]


def test_check_out_of_a_commit_the_mirror_lacks_is_a_source_error(
    executor: LocalExecutor, key: BuildKey, mirror: tuple[Path, Path]
) -> None:
    """``prepare`` fetches on this error (the mirror of another host's route)."""
    _origin, bare = mirror
    with pytest.raises(SourceError, match="git checkout failed"):
        executor.check_out(key, bare, "0" * 40)


def test_a_capped_stage_is_still_the_stage_and_is_stopped_like_one(
    tmp_path: Path, key: BuildKey, checkout: Path
) -> None:
    """With a memory cap the stage starts through ``sh`` (``ulimit``, then ``exec``): it is
    still the leader of its own process group, with its own argv, capped, and a stop reaches
    it; a command that does not exist is still an error, not a stage."""
    capped = LocalExecutor(tmp_path / "ws", "w", limits=ResourceLimits(memory=1 << 30))
    workspace = capped.prepare(key, checkout, None, {})
    try:
        same = run(capped, key, workspace, 'echo "$$ $(cut -d" " -f5 /proc/$$/stat) $0"; ulimit -v')
        assert same.output.split() == [same.output.split()[0]] * 2 + ["sh", str(1 << 20)]
        started = time.monotonic()
        stopped = run(
            capped,
            key,
            workspace,
            "trap '' TERM; sleep 30",
            should_stop=lambda: time.monotonic() - started > 0.3,
            grace=0.5,
        )
        assert stopped.outcome.killed and stopped.outcome.exit_code == 128 + 9
        with pytest.raises(ExecutorError, match="could not start stage 's': no-such-command"):
            capped.run_stage(
                key,
                "s",
                ["no-such-command"],
                {},
                workspace,
                image=None,
                on_output=lambda b: None,
                should_stop=lambda: False,
                timeout=None,
                grace=1,
            )
    finally:
        capped.destroy(key)
