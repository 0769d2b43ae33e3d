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

No container runs unheld: every container a worker starts is held *before* it starts. The
warm pool's filler runs in the holder's process and calls :meth:`StdinHolder.hold_now`; a
prefork process (``prepare``, a stage's own container) asks the holder over a Unix socket in
the abstract namespace (:func:`holder_address`, one per installation and worker name;
:func:`request_hold`) and starts the container only once the holder answers. With no holder
to ask (a worker started without ``python -m worker``, tools, tests driving the executor),
the request fails at once and the container starts unheld; the sweep then takes hold of it
within a second, or, with no holder at all, stdin stays open and the container simply waits.
The holder answers only processes of its own user (``SO_PEERCRED``), and only for a
container id; build containers have a network namespace of their own and cannot reach it.

A kept container (``OCELOT_KEEP_CONTAINERS``) must outlive its worker: :func:`keep` writes
``keep`` on its stdin, and PID 1 turns into a plain sleeper that no longer reads it. Only
the holder may otherwise attach with stdin: docker closes the stdin when *any* attached
client leaves.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from typing import Any

import docker
import requests
from docker.errors import DockerException, NotFound

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
HOLD_REQUEST_SECONDS = 5.0  # how long a prefork process waits for the holder's answer
# a request: "<container id> <name>\n" (the name only for the log)
_REQUEST = re.compile(rb"([0-9a-f]{64})(?: ([\w.-]{0,128}))?")
_REQUEST_MAX = 200


def holder_address(instance: str, worker: str) -> str:
    """The abstract Unix socket address of the holder of ``worker``'s containers (Linux;
    at most 108 bytes whatever the names, so a digest of them)."""
    digest = hashlib.sha256(f"{instance}\0{worker}".encode()).hexdigest()[:24]
    return f"\0ocelot-holder-{digest}"


def _peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket (SO_PEERCRED)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def request_hold(
    address: str, container_id: str, name: str = "", timeout: float = HOLD_REQUEST_SECONDS
) -> bool:
    """Ask the holder listening at ``address`` to hold ``container_id`` (created, not started
    yet; ``name`` for its log); True once it does. False when there is no holder, or it
    could not attach."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(address)
            conn.sendall(f"{container_id} {name}".encode()[:_REQUEST_MAX] + b"\n")
            return conn.recv(16).startswith(b"ok")
    except OSError:
        return False


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
        self._listener: socket.socket | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
            self._listener.close()

    def hold_now(self, container_id: str, name: str) -> bool:
        """Hold a container about to start, without waiting for the next sweep; whether it is
        held. Never raises: the sweep tries again."""
        with self._lock:
            if container_id in self.held:
                return True
            try:
                if self._client is None:
                    self._client = self._make_client()
                self.held[container_id] = _attach(self._client, container_id)
            except (DockerException, requests.RequestException, OSError) as exc:
                log.warning("could not hold the stdin of container %s: %s", name, exc)
                return False
            self.names[container_id] = name
            log.info("holding the stdin of container %s", name)
            return True

    def serve(self, address: str) -> None:
        """Answer hold requests (:func:`request_hold`) from this worker's prefork processes
        at ``address``, in a thread of its own. Never raises: without it, containers are
        held by the sweep, within a second of their start."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(address)
            listener.listen(64)
        except OSError as exc:
            listener.close()
            log.warning("cannot answer hold requests (%s): containers are held by the sweep", exc)
            return
        self._listener = listener
        threading.Thread(
            target=self._answer, args=(listener,), name="ocelot-hold-requests", daemon=True
        ).start()

    def _answer(self, listener: socket.socket) -> None:
        while not self._halt.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:  # closed (stop, or a forked process's copy)
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(HOLD_REQUEST_SECONDS)
                # Read the request before any answer, even one refused: closing on a client
                # that has not sent yet would fail its send (EPIPE) instead of saying "no".
                request = conn.recv(_REQUEST_MAX + 1)
                if _peer_uid(conn) != os.getuid():  # only this worker's user may ask
                    conn.sendall(b"no\n")
                    continue
                found = _REQUEST.fullmatch(request.strip())
                held = found is not None and self.hold_now(
                    found[1].decode(), (found[2] or found[1][:12]).decode()
                )
                conn.sendall(b"ok\n" if held else b"no\n")

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
            except NotFound:
                # Listed but not there: removed since, or still being created (the daemon
                # lists a container before it can attach to it). Its own hold request, or
                # the next sweep, holds it; nothing to warn about.
                log.debug("container %s is not attachable yet (or gone)", name)
                continue
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
        for sock in [*self.held.values(), *([self._listener] if self._listener else [])]:
            with contextlib.suppress(OSError):
                os.close(sock.detach())
        self.held, self.names, self._listener = {}, {}, None


_holder: StdinHolder | None = None


def hold(
    make_client: Callable[[], docker.DockerClient], labels: list[str], address: str | None = None
) -> StdinHolder:
    """Start this process's holder (once) for the containers labelled ``labels``, answering
    hold requests at ``address`` (:func:`holder_address`) if given."""
    global _holder
    if _holder is None:
        _holder = StdinHolder(make_client, labels)
        _holder.start()
        if address is not None:
            _holder.serve(address)
        log.info("holding the stdin of build containers labelled %s", ", ".join(labels))
    return _holder


def after_fork() -> None:
    """Call in a forked child: it must not hold the parent's switches."""
    global _holder
    if _holder is not None:
        _holder.drop_inherited()
        _holder = None
