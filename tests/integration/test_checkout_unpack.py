"""The checkout sent with the first stage's exec (ocelot.executors.docker_unpack), against a
real daemon: ``prepare`` copies nothing, the first stage finds the checkout in place and reads
nothing on stdin, an image without ``tar`` falls back to ``put_archive``, a broken archive
fails the stage with a message, and the stash goes with its build."""

from __future__ import annotations

import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker import DockerClient

from ocelot.executors.base import BuildKey, StageOutcome
from ocelot.executors.docker import LABEL_WORKER, DockerExecutor, container_name
from ocelot.executors.docker_unpack import UNPACK_FAILED, UNPACK_MISSING
from tests.conftest import require
from tests.executor_support import random_key, run, sample_checkout
from tests.stack import docker_ok

pytestmark = [pytest.mark.integration, pytest.mark.docker]

IMAGE = "ocelot/busybox:latest"


@pytest.fixture(scope="module")
def client() -> Iterator[DockerClient]:
    ok, reason = docker_ok()
    require(ok, reason)
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture
def executor(client: DockerClient, tmp_path: Path) -> Iterator[DockerExecutor]:
    worker = f"test-{uuid.uuid4().hex[:12]}"
    executor = DockerExecutor(worker, stash_root=tmp_path / "checkouts")
    yield executor
    executor.client().close()
    selector = {"label": f"{LABEL_WORKER}={worker}"}
    for row in client.api.containers(all=True, filters=selector):
        client.api.remove_container(row["Id"], force=True)
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)


@pytest.fixture
def key() -> BuildKey:
    return random_key(attempt=1)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return sample_checkout(tmp_path / "checkout")


def listing(client: DockerClient, name: str) -> str:
    """``ls -A /workspace`` in the build container, outside any stage."""
    return client.containers.get(name).exec_run(["ls", "-A", "/workspace"]).output.decode()


def test_prepare_copies_nothing_and_the_first_stage_brings_the_checkout(
    client: DockerClient, executor: DockerExecutor, key: BuildKey, checkout: Path
) -> None:
    executor.prepare(key, checkout, IMAGE, {})
    name = container_name(key)
    assert executor.stash is not None
    stashed = executor.stash.get(name)
    assert stashed is not None and stashed.stat().st_mode & 0o077 == 0  # private
    assert listing(client, name) == ""  # no put_archive happened

    first = run(executor, key, "cat README; sub/run.sh; cat; echo stdin-was-empty")
    assert first.outcome == StageOutcome(exit_code=0)
    assert first.output == "hello from the checkout\nran\nstdin-was-empty\n"
    assert executor.stash.get(name) is None
    assert listing(client, name).split() == ["README", "sub"]
    assert run(executor, key, "cat README").output == "hello from the checkout\n"


def test_the_first_stage_may_run_in_a_directory_of_the_checkout(
    executor: DockerExecutor, key: BuildKey, checkout: Path
) -> None:
    executor.prepare(key, checkout, IMAGE, {})
    result = run(executor, key, "pwd; ./run.sh", workdir="/workspace/sub")
    assert result.outcome == StageOutcome(exit_code=0)
    assert result.output == "/workspace/sub\nran\n"


def test_a_script_exiting_with_the_unpack_codes_is_its_own_result(
    executor: DockerExecutor, key: BuildKey, checkout: Path
) -> None:
    executor.prepare(key, checkout, IMAGE, {})
    result = run(executor, key, f"echo once; exit {UNPACK_MISSING}")
    assert result.outcome == StageOutcome(exit_code=UNPACK_MISSING)
    assert result.output == "once\n"  # not taken for "no tar" and run again


def _image_without_tar(client: DockerClient, tag: str, root: Path) -> None:
    """An image of Debian's dash alone (with the libraries it links): a POSIX ``sh`` with
    ``read``, ``echo``, ``printf`` and ``kill`` built in, and no ``tar`` (busybox's own
    shell would run its ``tar`` applet even with /bin/tar gone)."""
    dash = Path("/bin/dash")
    require(dash.exists(), "Debian's dash (/bin/dash) is needed to build an image without tar")
    out = subprocess.run(["ldd", str(dash)], capture_output=True, text=True, check=True).stdout
    libs = [Path(part) for part in out.split() if part.startswith("/")]
    with tarfile.open(root / "rootfs.tar", "w") as tar:
        tar.add(dash.resolve(), arcname="bin/sh")
        for lib in libs:
            tar.add(lib.resolve(), arcname=str(lib).lstrip("/"))
        for empty in ("tmp", "workspace"):
            info = tarfile.TarInfo(empty)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if empty == "tmp" else 0o755
            tar.addfile(info)
    repository, name = tag.split(":")
    client.api.import_image_from_file(str(root / "rootfs.tar"), repository=repository, tag=name)


def test_an_image_without_tar_gets_the_checkout_from_the_daemon(
    client: DockerClient, executor: DockerExecutor, key: BuildKey, checkout: Path, tmp_path: Path
) -> None:
    tag = f"ocelot/test-no-tar:{uuid.uuid4().hex[:12]}"
    _image_without_tar(client, tag, tmp_path)
    try:
        executor.prepare(key, checkout, tag, {})
        result = run(
            executor, key, 'command -v tar || echo no-tar; read -r line < README; echo "$line"'
        )
        assert result.outcome == StageOutcome(exit_code=0)
        assert result.output == "no-tar\nhello from the checkout\n"
        assert executor.stash is not None and executor.stash.get(container_name(key)) is None
    finally:
        executor.destroy(key)
        client.images.remove(tag, force=True)


def test_a_broken_archive_fails_the_first_stage_with_a_message(
    executor: DockerExecutor, key: BuildKey, checkout: Path
) -> None:
    executor.prepare(key, checkout, IMAGE, {})
    assert executor.stash is not None
    stashed = executor.stash.get(container_name(key))
    assert stashed is not None
    stashed.write_bytes(b"this is not a tar archive" * 100)
    result = run(executor, key, "echo the script ran")
    assert result.outcome == StageOutcome(exit_code=UNPACK_FAILED)
    assert "ocelot: could not unpack the checkout into /workspace" in result.output
    assert "the script ran" not in result.output


def test_destroy_and_the_janitor_remove_the_stash(
    executor: DockerExecutor, key: BuildKey, checkout: Path
) -> None:
    assert executor.stash is not None
    executor.prepare(key, checkout, IMAGE, {})
    executor.destroy(key)
    assert executor.stash.containers() == []

    executor.prepare(key, checkout, IMAGE, {})
    assert executor.cleanup("someone-else", lambda k: False) == []  # not that worker's stash
    assert executor.stash.containers() == [container_name(key)]
    assert f"checkout {container_name(key)}.tar" in executor.cleanup(
        executor.worker, lambda k: False
    )
    assert executor.stash.containers() == []
