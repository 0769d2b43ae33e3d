"""The checkout's way into a Docker build container: folded into the first stage's ``exec``.

``put_archive`` costs a daemon round trip of its own and most of the daemon's CPU for a small
build (the daemon mounts the container's file system and extracts in a helper process of its
own): ~70-90 ms of a ~250 ms one-stage build on the 2-core benchmark machine. So when the
build container's user is root (the common case), ``prepare`` only writes the checkout's tar
to this worker's *stash* (``OCELOT_HOME/checkouts/<build container>.tar``), and the first
stage that runs in the build container sends it on the stdin of its own exec:

    sh -c '<is tar there?> && tar -x -f - -C / && <announce the pid> && exec "$@" </dev/null'

so the checkout costs no round trip at all. The stage's script runs only once the checkout is
in place, with stdin from ``/dev/null`` as any stage; unpacking errors go to the stage's log
and fail it with :data:`UNPACK_FAILED`.

Fallbacks, all to ``put_archive`` of the stashed tar: an image without ``tar`` (the exec
ends with :data:`UNPACK_MISSING` before it announces itself; the stage then runs normally), a
build whose first user of the workspace is not a stage in the build container (an image stage,
a stage with an ``image:`` of its own, a kept container), and a non-root container user (the
archive must give ``/workspace`` to that user, which only the daemon can do under
``no-new-privileges``). ``destroy`` and the janitor remove stashed tars with their builds.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tarfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import docker
from docker.utils.socket import frames_iter

from ocelot.executors.docker_exec import ANNOUNCE

WORKSPACE = "/workspace"  # the build volume's mount point, for every docker module
UNPACK_MISSING = 213  # the image has no tar: nothing was read, the stage did not run
UNPACK_FAILED = 214  # tar failed (its message is in the log): the stage did not run
# Unpack stdin at "/" (the archive holds /workspace itself), then announce and run the stage.
# The stage's directory is the first argument: it may only exist once the checkout is there
# (the exec itself starts in /workspace, the volume's mount point).
UNPACK = (
    f"command -v tar >/dev/null 2>&1 || exit {UNPACK_MISSING}\n"
    "tar -x -f - -C / || { echo 'ocelot: could not unpack the checkout into "
    f"{WORKSPACE}' >&2; exit {UNPACK_FAILED}; }}\n"
    'cd -- "$1" || exit 126\n'
    "shift\n" + ANNOUNCE.replace('exec "$@"', 'exec "$@" </dev/null')
)
_CHUNK = 1 << 16


def unpacking(workdir: str, argv: Sequence[str]) -> list[str]:
    """The command line of a first stage that unpacks the checkout from stdin, then runs
    ``argv`` in ``workdir``."""
    return ["sh", "-c", UNPACK, "ocelot-stage", workdir, *argv]


def write_checkout(checkout: Path, fileobj: IO[bytes], uid: int = 0, gid: int = 0) -> None:
    """Tar ``checkout`` as ``workspace/...`` (extracted at "/"), owned by ``uid``:``gid``,
    with ``/workspace`` itself 0755, so the volume's root belongs to the container's user."""
    top = WORKSPACE.strip("/")

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        if info.name == top:
            info.mode = 0o755
        return info

    with tarfile.open(fileobj=fileobj, mode="w") as tar:
        tar.add(checkout, arcname=top, filter=owned)


class Stash:
    """Checkout tars waiting for their build's first stage, one file per build container."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, container: str) -> Path:
        return self.root / f"{container}.tar"

    def put(self, container: str, checkout: Path) -> None:
        """Stash the tar of ``checkout`` (root-owned) for ``container``."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.path(container)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        try:
            # private source code: readable by this worker's user only, like a temporary file
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
                write_checkout(checkout, fh)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, container: str) -> Path | None:
        path = self.path(container)
        return path if path.is_file() else None

    def discard(self, container: str) -> None:
        self.path(container).unlink(missing_ok=True)

    def containers(self) -> list[str]:
        """The build containers with a stashed tar."""
        with contextlib.suppress(FileNotFoundError):
            return [p.name[: -len(".tar")] for p in self.root.glob("*.tar")]
        return []


def can_send(client: docker.DockerClient) -> bool:
    """Whether exec sockets of ``client`` are plain sockets that can be half-closed: a unix
    socket or plain TCP (not TLS, ssh:// or a Windows named pipe)."""
    base = str(client.api.base_url)
    return base.startswith("http+docker://localhost") or base.startswith("http://")


class StdinExec:
    """An exec whose stdin is a file (sent by a thread, then half-closed) and whose output is
    read as the bytes of stdout and stderr, in order, like ``exec_start(stream=True)``."""

    def __init__(
        self,
        client: docker.DockerClient,
        container_id: str,
        command: Sequence[str],
        payload: Path,
        *,
        environment: Mapping[str, str],
    ) -> None:
        self.exec_id: str = client.api.exec_create(
            container_id, list(command), environment=dict(environment), workdir=WORKSPACE,
            stdin=True,
        )["Id"]  # fmt: skip
        self._sock: Any = client.api.exec_start(self.exec_id, socket=True)
        self._raw: socket.socket | None = getattr(self._sock, "_sock", None)
        self._writer = threading.Thread(
            target=self._send, args=(payload,), name="ocelot-unpack", daemon=True
        )
        self._writer.start()

    def _send(self, payload: Path) -> None:
        raw = self._raw
        if raw is None:
            return
        with contextlib.suppress(OSError):  # the exec ended early: it read what it wanted
            with open(payload, "rb") as fh:
                while block := fh.read(_CHUNK):
                    raw.sendall(block)
            raw.shutdown(socket.SHUT_WR)  # end-of-file on the exec's stdin

    def chunks(self) -> Iterator[bytes]:
        for _stream, data in frames_iter(self._sock, False):
            yield data

    def close(self) -> None:
        """Close the connection (idempotent); the writer ends with it."""
        for closing in (self._raw, self._sock, getattr(self._sock, "_response", None)):
            if closing is not None:
                with contextlib.suppress(OSError, ValueError):  # closed already
                    closing.close()
        self._writer.join(5)
