"""``OCELOT_KEEP_CONTAINERS``, for real: the container of a failed build survives the
periodic janitor and a worker restart (whose start-up janitor used to remove every attempt
that was not running), ``ocelot status`` says how to get into it, and ``ocelot admin prune``
removes it at once."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner

from ocelot import queues
from ocelot.cli.main import cli
from tests.conftest import require
from tests.servers import Process
from tests.stack import Stack, docker_ok, make_repo, own_stack
from tests.waiting import eventually
from worker.factory import make_celery

pytestmark = [pytest.mark.docker, pytest.mark.slow]

FAILING = """\
image: ocelot/busybox
buildTool: shell
branches: [ALL]
stages:
  - name: broken
    script: ["echo left-for-you > clue.txt", "exit 3"]
"""


@pytest.fixture
def keeper(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own (own Redis, own instance name) whose workers keep failed builds."""
    ok, reason = docker_ok()
    require(ok, reason)
    env = {"OCELOT_KEEP_CONTAINERS": "1", "OCELOT_INSTANCE": f"keep{secrets.token_hex(3)}"}
    try:
        with own_stack(tmp_path, env) as stack:
            yield stack
    finally:
        client = docker.from_env()
        labels = {"label": [f"ocelot.instance={env['OCELOT_INSTANCE']}"]}
        for container in client.containers.list(all=True, filters=labels):
            container.remove(force=True, v=True)
        for volume in client.volumes.list(filters=labels):
            volume.remove(force=True)


def container(name: str) -> docker.models.containers.Container | None:
    found = docker.from_env().containers.list(all=True, filters={"name": f"^{name}$"})
    return found[0] if found else None


# beat's janitor fans out to each live worker's own queue, where janitor_here cleans that host
JANITOR_DONE = re.compile(r"Task ocelot\.maintenance\.janitor_here\[[^\]]+\] succeeded")


def run_janitor(stack: Stack, worker: Process) -> None:
    """The periodic janitor, sent the way beat sends it; waits until the worker ran it."""

    def runs() -> int:
        return len(JANITOR_DONE.findall(worker.log.read_text(errors="replace")))

    before = runs()
    make_celery(stack.settings).send_task(queues.MAINTENANCE_JANITOR, queue=queues.MAINTENANCE)
    eventually(
        lambda: runs() > before,
        30,
        lambda: f"the janitor to run:\n{worker.log.read_text()[-3000:]}",
        interval=0.2,
    )


def cli_env(stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in stack.env.items():  # the server's environment, for `admin`
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OCELOT_URL", stack.url)  # and the client's, for `status`
    monkeypatch.setenv("OCELOT_TOKEN", stack.token)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))


def test_a_kept_container_survives_the_janitors_until_admin_prune(
    keeper: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = keeper.start_worker("keeper")
    make_repo(tmp_path / "repo", {"ocelot.yml": FAILING})
    build_id = keeper.build(keeper.add_repo(tmp_path / "repo", "acme/keep"), branch="master")
    build = keeper.wait(build_id)
    assert build["status"] == "FAILED", build
    name = f"ocelot-{keeper.settings.instance}-{build_id}-1"
    # finish publishes the status first and records what it keeps right after
    eventually(
        lambda: keeper.get(build_id)["kept_container"] == name, 30, "the kept container's name"
    )
    kept = container(name)
    assert kept is not None and kept.status == "running"

    run_janitor(keeper, worker)
    assert container(name) is not None, "the periodic janitor removed the kept container"

    keeper.stop_worker(worker)
    worker = keeper.start_worker("keeper")  # its start-up janitor runs before "ready"
    worker.wait_for_log("ocelot worker ready", timeout=30)
    assert container(name) is not None, "the janitor at worker start removed it"
    assert keeper.get(build_id)["kept_container"] == name

    # What a person does with it: `ocelot status` says how to get in, and it works.
    cli_env(keeper, monkeypatch, tmp_path)
    shown = CliRunner().invoke(cli, ["status", "--build-id", str(build_id)])
    assert shown.exit_code == 0, shown.output
    assert f"docker exec -it {name} sh" in shown.stdout
    clue = docker.from_env().containers.get(name).exec_run(["cat", "/workspace/clue.txt"])
    assert (clue.exit_code, clue.output) == (0, b"left-for-you\n")

    pruned = CliRunner().invoke(cli, ["admin", "prune"], catch_exceptions=False)
    assert pruned.exit_code == 0, pruned.output
    assert pruned.stdout == f"removed {name} (build {build_id})\n"
    assert container(name) is None
    volumes = docker.from_env().volumes.list(filters={"label": [f"ocelot.build_id={build_id}"]})
    assert not [v for v in volumes if keeper.settings.instance in v.name]
    assert keeper.get(build_id)["kept_container"] is None
