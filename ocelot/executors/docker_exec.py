"""How the docker executor runs a stage as an exec it can signal, and reads its end.

Killing a stage: docker cannot signal an exec, so every stage runs as
``sh -c 'printf <marker><pid>; exec "$@"'``. runc starts each exec as a session leader, so
that pid is also the session and process group id of everything the stage starts. The marker
line is stripped from the output; to signal the stage, a second exec (as the container's
user, like the stage) signals that process group and every process of that session found in
``/proc`` (shell builtins only, so any image with a POSIX ``sh`` works). Processes that start
a session of their own escape and die with the container in ``destroy``. Last resort, if the
exec has not ended ``KILL_WAIT_SECONDS`` after SIGKILL, the whole container is killed.
Background processes a stage leaves behind live until ``destroy`` (docker then ends that
exec's output ~2 s late).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import docker
import requests
from docker.errors import DockerException
from docker.models.containers import Container

MARKER = b"\x1eocelot-stage-pid="
ANNOUNCE = 'printf \'\\036ocelot-stage-pid=%s\\n\' "$$"; exec "$@"'
KILL_SCRIPT = """sig=$1 leader=$2
kill -s "$sig" -- "-$leader" 2>/dev/null
for d in /proc/[0-9]*; do
  read -r s 2>/dev/null <"$d/stat" || continue
  s=${s##*) }
  set -- $s
  [ "$4" = "$leader" ] && kill -s "$sig" "${d#/proc/}" 2>/dev/null
done
exit 0"""


def wrap(argv: Sequence[str]) -> list[str]:
    """The command line of a stage's exec: announce the pid, then become ``argv``."""
    return ["sh", "-c", ANNOUNCE, "ocelot-stage", *argv]


class Leader:
    """Strips the wrapper's announcement from the output and remembers the stage's pid."""

    pid: int | None = None

    def strip(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        chunks = iter(chunks)
        head = b""
        for chunk in chunks:
            head += chunk
            if head.startswith(MARKER) and b"\n" in head:
                line, head = head.split(b"\n", 1)
                with contextlib.suppress(ValueError):
                    self.pid = int(line[len(MARKER) :])
                break
            if not MARKER.startswith(head[: len(MARKER)]) or len(head) > 64:
                break  # no announcement (e.g. docker could not start the exec)
        if head:
            yield head
        yield from chunks


def signal_stage(
    client: docker.DockerClient, container: Container, leader: Leader, sig: signal.Signals
) -> None:
    """Send ``sig`` to the stage ``leader`` announced (see the module docstring)."""
    until = time.monotonic() + 1  # a stage killed right away may not have announced itself yet
    while leader.pid is None and time.monotonic() < until:
        time.sleep(0.02)
    pid = leader.pid
    with contextlib.suppress(DockerException, requests.RequestException):
        if pid is not None:
            command = ["sh", "-c", KILL_SCRIPT, "ocelot-kill", sig.name[3:], str(pid)]
            # as the container's user, like the stage: with no-new-privileges the stage
            # cannot have changed user, and a root exec in a non-root container has no
            # capabilities (so could not signal the stage's processes)
            killer = client.api.exec_create(container.id, command)["Id"]
            client.api.exec_start(killer)
        elif sig == signal.SIGKILL:  # it never even announced itself: last resort
            container.kill()


def close_stream(stream: Any) -> None:
    """Cancel an exec stream. ``CancellableStream.close`` alone leaves the response's fd open."""
    with contextlib.suppress(OSError):
        stream.close()
    stream._response.close()


def exit_code(client: docker.DockerClient, exec_id: str, wait: float = 3.0) -> int | None:
    """The exec's exit code, once docker has noticed it ended (``None`` if it has not)."""
    until = time.monotonic() + wait
    with contextlib.suppress(DockerException, requests.RequestException):
        while (info := client.api.exec_inspect(exec_id)).get("Running"):
            if time.monotonic() >= until:
                return None
            time.sleep(0.05)
        return info.get("ExitCode")  # type: ignore[no-any-return]
    return None
