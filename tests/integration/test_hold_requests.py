"""The dead-man's switch with no window: a container is held before it starts. A process
other than the holder's asks it over the abstract Unix socket (ocelot.executors.deadman
.request_hold), as a worker's prefork processes do; when the holder's process is SIGKILLed,
the container it was asked to hold stops on its own."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from ocelot.executors import deadman
from tests.conftest import require
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.docker]

IMAGE = "ocelot/busybox"
# The holder's own sweep holds nothing of this test (no container carries its label): only
# the requests do.
HOLDER = """
import sys, time, docker
from ocelot.executors import deadman
deadman.hold(docker.from_env, ["ocelot.test=matches-nothing"], "\\0" + sys.argv[1])
print("serving", flush=True)
time.sleep(3600)
"""


@pytest.fixture
def client(docker_client: docker.DockerClient) -> Iterator[docker.DockerClient]:
    yield docker_client
    label = {"label": "ocelot.test=hold-requests"}
    for row in docker_client.api.containers(all=True, filters=label):
        docker_client.api.remove_container(row["Id"], force=True)


@pytest.fixture
def holder() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    address = deadman.holder_address("test", uuid.uuid4().hex)
    # an abstract address starts with NUL, which argv cannot carry
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, address[1:]], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"serving\n"
    yield address, proc
    proc.kill()
    proc.wait(10)
    proc.stdout.close()


def armed(client: docker.DockerClient) -> str:
    container = client.containers.create(
        IMAGE, entrypoint=deadman.SWITCH, labels={"ocelot.test": "hold-requests"},
        init=True, **deadman.ARMED,
    )  # fmt: skip
    return str(container.id)


def running(client: docker.DockerClient, container_id: str) -> bool:
    return bool(client.api.inspect_container(container_id)["State"]["Running"])


def test_a_container_held_before_its_start_stops_with_its_holder(
    client: docker.DockerClient, holder: tuple[str, subprocess.Popen[bytes]]
) -> None:
    address, proc = holder
    container_id = armed(client)
    assert deadman.request_hold(address, container_id)
    client.api.start(container_id)
    assert running(client, container_id)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    eventually(lambda: not running(client, container_id), 30, "the held container to stop")
    assert client.api.inspect_container(container_id)["State"]["ExitCode"] == 0  # end-of-file


def test_a_container_nobody_was_asked_to_hold_outlives_the_holder(
    client: docker.DockerClient, holder: tuple[str, subprocess.Popen[bytes]]
) -> None:
    """The control: the same container, not asked for, keeps running (so the test above
    proves the request, not some other way the container could end)."""
    _, proc = holder
    container_id = armed(client)
    client.api.start(container_id)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with pytest.raises(AssertionError, match="timed out"):
        eventually(lambda: not running(client, container_id), 3, "the container to stop")


def test_requests_without_a_holder_or_for_no_container_are_refused(
    client: docker.DockerClient, holder: tuple[str, subprocess.Popen[bytes]]
) -> None:
    address, _ = holder
    nowhere = deadman.holder_address("test", "no-such-worker-" + uuid.uuid4().hex)
    assert deadman.request_hold(nowhere, armed(client)) is False  # no holder: refused at once
    assert deadman.request_hold(address, "0" * 64) is False  # no such container
    assert deadman.request_hold(address, "../../etc") is False  # not a container id


ASK_AS_NOBODY = """
import socket, sys, time
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect("\\0" + sys.argv[1])
time.sleep(0.3)  # a slow client: the holder must wait for the request before it says no
conn.sendall(sys.argv[2].encode() + b"\\n")
print(conn.recv(16).decode().strip())
"""


def test_the_holder_answers_only_its_own_user(
    client: docker.DockerClient, holder: tuple[str, subprocess.Popen[bytes]]
) -> None:
    """Another local user cannot make the worker hold (or, when it goes, close the stdin of)
    a container: asked as ``nobody`` (Debian's python3, no Ocelot import), it says no."""
    require(Path("/usr/bin/setpriv").exists(), "setpriv (util-linux) is needed to ask as nobody")
    address, _ = holder
    container_id = armed(client)
    as_nobody = subprocess.run(
        ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "/usr/bin/python3", "-c", ASK_AS_NOBODY, address[1:], container_id],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert as_nobody.stdout.strip() == "no", as_nobody.stderr
    assert deadman.request_hold(address, container_id)  # its own user: yes


def test_a_sweep_passes_quietly_over_a_listed_container_it_cannot_attach_to(
    client: docker.DockerClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon lists a container before it can attach to it (while its volume is made)
    and until it is removed, so a sweep meets real 404s: no warning for those, and the
    others are held. Here the listed container is removed right after the listing."""
    doomed, other = armed(client), armed(client)
    sweeping = docker.from_env()
    listing = sweeping.api.containers

    def list_then_remove(*args: Any, **kwargs: Any) -> Any:
        rows = listing(*args, **kwargs)
        client.api.remove_container(doomed, force=True)
        return rows

    sweeping.api.containers = list_then_remove  # type: ignore[method-assign]
    holder = deadman.StdinHolder(lambda: sweeping, ["ocelot.test=hold-requests"])
    try:
        with caplog.at_level(logging.DEBUG, logger=deadman.__name__):
            holder.sweep()
        assert other in holder.held and doomed not in holder.held, holder.names
        said = [(r.levelno, r.getMessage()) for r in caplog.records]
        assert any("not attachable" in m for _, m in said), said  # the 404 did happen
        assert not [m for level, m in said if level >= logging.WARNING], said
    finally:
        for sock in holder.held.values():
            sock.close()
        sweeping.close()
