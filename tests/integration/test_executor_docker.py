"""The docker executor against a real docker daemon and the local ``ocelot/busybox`` image."""

from __future__ import annotations

import gc
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker import DockerClient

from ocelot.errors import ExecutorError
from ocelot.executors.base import BuildKey, HomeFile, RegistryLogin, StageOutcome
from ocelot.executors.docker import (
    LABEL_BUILD,
    LABEL_STAGE,
    LABEL_WORKER,
    DockerExecutor,
)
from tests.executor_support import random_key, run, sample_checkout
from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.docker]

IMAGE = "ocelot/busybox:latest"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client() -> Iterator[DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no daemon here"
        pytest.skip(f"docker daemon unreachable: {exc}")
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        subprocess.run([REPO_ROOT / "scripts" / "build-busybox-image.sh", IMAGE], check=True)
    yield client
    client.close()


@pytest.fixture
def worker() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["folded", "put_archive"])
def executor(
    request: pytest.FixtureRequest, client: DockerClient, worker: str, tmp_path: Path
) -> Iterator[DockerExecutor]:
    """Both ways a checkout goes in: sent with the first stage's exec (a stash, as workers
    run), and ``put_archive`` in ``prepare`` (no stash)."""
    stash = tmp_path / "checkouts" if request.param == "folded" else None
    executor = DockerExecutor(worker, stash_root=stash)
    yield executor
    executor.client().close()
    # Whatever a test made, nothing labelled with its worker may survive it.
    selector = {"label": f"{LABEL_WORKER}={worker}"}
    for container in client.containers.list(all=True, filters=selector):
        container.remove(force=True)
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)


@pytest.fixture
def key() -> BuildKey:
    return random_key()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = sample_checkout(tmp_path / "checkout")
    (root / "link").symlink_to("README")
    return root


@pytest.fixture
def workspace(executor: DockerExecutor, key: BuildKey, checkout: Path) -> str:
    return executor.prepare(key, checkout, IMAGE, {"BUILD_LEVEL": "yes"})


def test_stage_sees_env_workdir_and_checkout(
    executor: DockerExecutor, key: BuildKey, workspace: str
) -> None:
    assert workspace == "/workspace"
    result = run(
        executor,
        key,
        "pwd; echo $GREETING; cat README; sub/run.sh; cat link",
        env={"GREETING": "hi there"},
    )
    assert result.outcome == StageOutcome(exit_code=0)
    assert result.output == (
        "/workspace\nhi there\nhello from the checkout\nran\nhello from the checkout\n"
    )
    assert run(executor, key, "pwd", workdir="/workspace/sub").output == "/workspace/sub\n"


def test_output_arrives_while_the_stage_runs(
    executor: DockerExecutor, key: BuildKey, workspace: str
) -> None:
    result = run(executor, key, "echo first; sleep 1; echo second >&2")
    assert result.output == "first\nsecond\n"
    first_at = result.chunks[0][0]
    assert first_at < result.elapsed - 0.7, result.chunks


def test_exit_code_is_reported(executor: DockerExecutor, key: BuildKey, workspace: str) -> None:
    assert run(executor, key, "exit 3").outcome == StageOutcome(exit_code=3)


def test_timeout_kills_the_stage(executor: DockerExecutor, key: BuildKey, workspace: str) -> None:
    result = run(executor, key, "sleep 30", timeout=1)
    assert result.outcome.timed_out and not result.outcome.killed
    assert result.outcome.exit_code == 143  # SIGTERM was enough
    assert result.elapsed < 4


def test_stop_escalates_to_sigkill_after_grace(
    executor: DockerExecutor, key: BuildKey, workspace: str
) -> None:
    started = time.monotonic()
    result = run(
        executor,
        key,
        "trap '' TERM; sleep 30 & sleep 31",  # TERM ignored, also by the children
        should_stop=lambda: time.monotonic() - started > 0.3,
        grace=1,
    )
    assert result.outcome.killed and not result.outcome.timed_out
    assert result.outcome.exit_code == 137
    assert result.outcome.error is None
    assert 1.2 < result.elapsed < 1 + 5
    processes = run(executor, key, "ps -o args").output.splitlines()
    assert "sleep 30" not in processes and "sleep 31" not in processes  # the whole tree died


def test_stop_lets_the_stage_exit_gracefully(
    executor: DockerExecutor, key: BuildKey, workspace: str
) -> None:
    started = time.monotonic()
    result = run(
        executor,
        key,
        "trap 'echo cleaning up; exit 5' TERM; echo ready; while :; do sleep 0.1; done",
        should_stop=lambda: time.monotonic() - started > 0.3,
        grace=10,
    )
    assert result.outcome == StageOutcome(exit_code=5, killed=True)
    assert "ready\n" in result.output and "cleaning up\n" in result.output
    assert result.elapsed < 3


def test_stage_image_runs_in_its_own_container_on_the_workspace(
    client: DockerClient, executor: DockerExecutor, key: BuildKey, workspace: str
) -> None:
    result = run(executor, key, "cat README; hostname > from-stage", image=IMAGE)
    assert result.outcome == StageOutcome(exit_code=0)
    assert result.output == "hello from the checkout\n"
    stage_host = run(executor, key, "cat from-stage").output
    assert stage_host and stage_host != run(executor, key, "hostname").output
    leftovers = client.containers.list(all=True, filters={"label": LABEL_STAGE})
    assert [c for c in leftovers if c.labels.get(LABEL_BUILD) == str(key.build_id)] == []


def test_destroy_removes_containers_and_volume(
    client: DockerClient, executor: DockerExecutor, key: BuildKey, workspace: str
) -> None:
    selector = {"label": f"{LABEL_BUILD}={key.build_id}"}
    assert len(client.containers.list(all=True, filters=selector)) == 1
    assert len(client.volumes.list(filters=selector)) == 1
    executor.destroy(key)
    assert client.containers.list(all=True, filters=selector) == []
    assert client.volumes.list(filters=selector) == []
    executor.destroy(key)  # idempotent
    with pytest.raises(ExecutorError, match="not found; was the build prepared"):
        run(executor, key, "true")


def test_prepare_again_starts_from_a_fresh_workspace(
    executor: DockerExecutor, key: BuildKey, workspace: str, checkout: Path
) -> None:
    run(executor, key, "touch stale")
    assert executor.prepare(key, checkout, IMAGE, {}) == "/workspace"
    assert run(executor, key, "ls").output.split() == ["README", "link", "sub"]


def test_missing_image_is_a_clear_error(
    executor: DockerExecutor, key: BuildKey, checkout: Path, client: DockerClient
) -> None:
    with pytest.raises(ExecutorError, match="image ocelot/no-such-image:1 not found on this"):
        executor.prepare(key, checkout, "ocelot/no-such-image:1", {})
    assert client.volumes.list(filters={"label": f"{LABEL_BUILD}={key.build_id}"}) == []
    executor.prepare(key, checkout, IMAGE, {})
    with pytest.raises(ExecutorError, match="image ocelot/no-such-image:1 not found on this"):
        run(executor, key, "true", image="ocelot/no-such-image:1")


# docker-py's UnixHTTPConnection.connect leaks its socket when connect() fails; collect it
# here so the ResourceWarning lands on this test instead of a later one.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_unreachable_daemon_is_a_clear_error(worker: str, key: BuildKey, checkout: Path) -> None:
    executor = DockerExecutor(worker, docker_host="unix:///nonexistent/docker.sock")
    with pytest.raises(ExecutorError, match="docker daemon unreachable at unix:///nonexistent"):
        executor.prepare(key, checkout, IMAGE, {})
    with pytest.raises(ExecutorError, match="docker daemon unreachable"):
        executor.destroy(key)
    gc.collect()


def test_non_root_image_owns_its_workspace(
    client: DockerClient, executor: DockerExecutor, key: BuildKey, checkout: Path
) -> None:
    tag = f"ocelot/test-nobody:{uuid.uuid4().hex[:12]}"
    base = client.containers.create(IMAGE, ["true"])
    try:
        base.commit(*tag.split(":"), changes=["USER 65534:65534"])
    finally:
        base.remove(force=True)
    try:
        executor.prepare(key, checkout, tag, {})
        result = run(executor, key, "id -u; stat -c %u:%g . README sub; touch new && echo ok")
        assert result.output.split() == ["65534", "65534:65534", "65534:65534", "65534:65534", "ok"]
    finally:
        executor.destroy(key)
        client.images.remove(tag, force=True)


def test_cleanup_removes_only_what_keep_rejects(
    client: DockerClient, executor: DockerExecutor, worker: str, checkout: Path
) -> None:
    running, crashed = (BuildKey(random.randrange(10**9, 2 * 10**9), 1) for _ in range(2))
    executor.prepare(running, checkout, IMAGE, {})
    executor.prepare(crashed, checkout, IMAGE, {})
    assert executor.cleanup("someone-else", lambda k: False) == []
    removed = executor.cleanup(worker, lambda k: k == running)
    stashed = [f"checkout ocelot-{crashed.build_id}-1.tar"] if executor.stash else []
    assert sorted(removed) == [
        *stashed,
        f"container ocelot-{crashed.build_id}-1",
        f"volume ocelot-ws-{crashed.build_id}-1",
    ]
    assert run(executor, running, "cat README").output == "hello from the checkout\n"


def test_stop_requested_before_the_stage_announced_itself(
    executor: DockerExecutor, key: BuildKey, workspace: str
) -> None:
    result = run(executor, key, "sleep 30", should_stop=lambda: True, grace=10)
    assert result.outcome == StageOutcome(exit_code=143, killed=True)  # SIGTERM, no grace wait
    assert result.elapsed < 3


def test_home_files_are_streamed_into_home_of_the_build_container_only(
    executor: DockerExecutor, key: BuildKey, checkout: Path
) -> None:
    files = {".ssh/id_k": HomeFile("KEY-1\n"), ".m2/settings.xml": HomeFile("<s/>", 0o644)}
    executor.prepare(key, checkout, IMAGE, {}, home_files=files)
    result = run(executor, key, "stat -c '%a %u %n' ~/.ssh ~/.ssh/id_k ~/.m2/settings.xml")
    assert result.output.splitlines() == [
        "700 0 /root/.ssh",
        "600 0 /root/.ssh/id_k",
        "644 0 /root/.m2/settings.xml",
    ]
    assert run(executor, key, "cat ~/.ssh/id_k").output == "KEY-1\n"
    # a stage with its own image runs in another container: no keys there
    # ls's complaint (stderr) and `none` (stdout) are separate streams: their order may vary
    assert run(executor, key, "ls ~/.ssh 2>/dev/null || echo none", image=IMAGE).output == "none\n"


def test_an_image_is_pulled_with_the_login_of_its_registry_only(
    executor: DockerExecutor, key: BuildKey, checkout: Path
) -> None:
    registry = f"127.0.0.1:{free_port()}"  # nothing listens: a pull there fails
    login = RegistryLogin(registry, "ci", "pull-pass-3")
    # the login is for another registry: the local ocelot/busybox is used as it is
    assert executor.prepare(key, checkout, IMAGE, {}, registry_logins=[login]) == "/workspace"
    private = f"{registry}/team/busybox:1"
    with pytest.raises(ExecutorError, match=f"pulling {private} from {registry} as 'ci'") as err:
        executor.run_stage(
            key,
            "private",
            ["true"],
            {},
            "/workspace",
            image=private,
            on_output=lambda chunk: None,
            should_stop=lambda: False,
            timeout=10,
            grace=1,
            registry_logins=[login],
        )
    assert "pull-pass-3" not in str(err.value)
    with pytest.raises(ExecutorError, match=f"pulling {private} from {registry} as 'ci'"):
        executor.prepare(key, checkout, private, {}, registry_logins=[login])
