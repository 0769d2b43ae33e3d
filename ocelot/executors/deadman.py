"""The dead-man's switch of build containers: a container ends itself when its worker dies.

Every docker build (and stage) container is created with an open stdin that closes when an
attached client goes (``OpenStdin`` + ``StdinOnce``), and PID 1 (under docker's init) is
:data:`SWITCH`: a POSIX ``sh`` loop that only reads stdin. The worker's long-lived main
process holds an attach socket to the stdin of every running container it owns
(:class:`StdinHolder`, a thread that looks for them by label every second). When that process
dies, however it dies (SIGKILL, OOM, the host gone), the kernel closes its sockets, docker
closes the container's stdin, ``read`` gets end-of-file, PID 1 exits and docker stops the
container with every exec in it: a stage on a dead worker cannot run on beside the next
attempt. A warm shutdown ends the same way (its builds were handed back and removed first).

Until the holder has attached (at most a second after the container started), or with no
holder at all (a worker started without ``python -m worker``, tools, tests driving the
executor), stdin stays open and the container simply waits, as before.

A kept container (``OCELOT_KEEP_CONTAINERS``) must outlive its worker: :func:`keep` writes
``keep`` on its stdin, and PID 1 turns into a plain sleeper that no longer reads it. Only
the holder may otherwise attach with stdin: docker closes the stdin when *any* attached
client leaves.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

import docker
import requests
from docker.errors import DockerException

log = logging.getLogger(__name__)

# PID 1's command: read stdin until end-of-file (then exit: the container stops), or until
# the line "keep" (then sleep until stopped, reading no more). Shell builtins and `sleep`.
SWITCH = [
    "sh",
    "-c",
    'while read -r line; do if [ "$line" = keep ]; then '
    "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done; fi; done",
]
# ``containers.create`` arguments that arm the switch. docker-py sets StdinOnce only for a
# container created "attached" (``detach=False``); create starts nothing, so that is all it does.
ARMED: Mapping[str, Any] = {"stdin_open": True, "detach": False}
SWEEP_SECONDS = 1.0


def _attach(client: docker.DockerClient, container_id: str) -> socket.socket:
    """A raw socket attached to the container's stdin (nothing is read from it)."""
    wrapped = client.api.attach_socket(container_id, params={"stdin": 1, "stream": 1})
    raw = getattr(wrapped, "_sock", wrapped)  # SocketIO.close() alone leaves it open
    return raw  # type: ignore[no-any-return]


def keep(client: docker.DockerClient, container_id: str) -> None:
    """Make the container outlive its worker (a kept debug container): PID 1 stops
    reading stdin, so the holder's end no longer matters."""
    sock = _attach(client, container_id)
    try:
        sock.sendall(b"keep\n")
    finally:
        sock.close()


class StdinHolder:
    """Holds the stdin of every running container labelled with ``labels`` (this worker's,
    this installation's) for as long as this process lives."""

    def __init__(self, make_client: Callable[[], docker.DockerClient], labels: list[str]) -> None:
        self._make_client = make_client
        self.labels = labels
        self.held: dict[str, socket.socket] = {}
        self.names: dict[str, str] = {}  # what each held container was called when last seen
        self._pid = os.getpid()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ocelot-stdin-holder", daemon=True)
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()

    def hold_now(self, container_id: str, name: str) -> None:
        """Hold a container this process just started (the warm pool's), without waiting for
        the next sweep. Never raises: the sweep tries again."""
        with self._lock:
            if container_id in self.held:
                return
            try:
                if self._client is None:
                    self._client = self._make_client()
                self.held[container_id] = _attach(self._client, container_id)
            except (DockerException, requests.RequestException, OSError) as exc:
                log.warning("could not hold the stdin of container %s: %s", name, exc)
                return
            self.names[container_id] = name
            log.info("holding the stdin of container %s", name)

    def sweep(self) -> None:
        """Attach to the containers not held yet; let go of those that are gone."""
        with self._lock:
            self._sweep()

    def _sweep(self) -> None:
        if self._client is None:
            self._client = self._make_client()
        client = self._client
        assert client is not None
        running = {
            c["Id"]: (c.get("Names") or ["/" + c["Id"][:12]])[0].lstrip("/")
            # created too: the warm pool's containers are held before they start
            for c in client.api.containers(
                filters={"label": self.labels, "status": ["created", "running"]}
            )
        }
        for gone in set(self.held) - set(running):
            self.names.pop(gone, None)
            with contextlib.suppress(OSError):
                self.held.pop(gone).close()
        for container_id in set(self.held) & set(running):
            name, was = running[container_id], self.names.get(container_id)
            if name != was:  # a warm pool container, claimed by a build (renamed)
                self.names[container_id] = name
                log.info("holding the stdin of container %s (was %s)", name, was)
        for container_id in set(running) - set(self.held):
            name = running[container_id]
            try:
                self.held[container_id] = _attach(client, container_id)
            except (DockerException, requests.RequestException, OSError) as exc:
                log.warning("could not hold the stdin of container %s: %s", name, exc)
                continue
            self.names[container_id] = name
            log.info("holding the stdin of container %s", name)

    def _run(self) -> None:
        while not self._halt.is_set():
            try:
                self.sweep()
            except Exception:  # docker restarting: the next sweep tries again
                log.exception("stdin holder: sweep failed")
                self._client = None
            self._halt.wait(SWEEP_SECONDS)

    def drop_inherited(self) -> None:
        """In a process forked from the holder's: close the inherited descriptors (only this
        process's copies; the holder's sockets stay open), so a pool process that outlives
        the main process cannot keep the switch from firing."""
        if os.getpid() == self._pid:
            return
        for sock in self.held.values():
            with contextlib.suppress(OSError):
                os.close(sock.detach())
        self.held, self.names = {}, {}


_holder: StdinHolder | None = None


def hold(make_client: Callable[[], docker.DockerClient], labels: list[str]) -> StdinHolder:
    """Start this process's holder (once) for the containers labelled ``labels``."""
    global _holder
    if _holder is None:
        _holder = StdinHolder(make_client, labels)
        _holder.start()
        log.info("holding the stdin of build containers labelled %s", ", ".join(labels))
    return _holder


def after_fork() -> None:
    """Call in a forked child: it must not hold the parent's switches."""
    global _holder
    if _holder is not None:
        _holder.drop_inherited()
        _holder = None
