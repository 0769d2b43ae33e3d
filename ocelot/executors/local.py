"""The local executor: stages run as plain processes of the worker, in a workspace directory.

This executor ISOLATES NOTHING. A stage runs as the worker's user, on the worker's host, with
access to everything that user can reach (files, network, other builds' workspaces, the
worker's own credentials on disk). Use it only for trusted repositories on dedicated hosts
without Docker (e.g. macOS builders selected by ``machineTag``).

Layout: the workspace of a build attempt is ``settings.workspaces / "<build_id>-<attempt>"``,
checked out there straight from the mirror (:meth:`LocalExecutor.check_out`, no copy);
next to it, ``.<build_id>-<attempt>.worker`` records which worker owns it, so ``cleanup`` only
touches its own leftovers even when several workers share one home directory.

Fences: of the worker's :class:`ResourceLimits` only ``memory`` applies, as ``RLIMIT_AS``
(virtual address space) of each stage process and what it starts; a JVM or Go program that
reserves more address space than that fails to start (raise ``OCELOT_BUILD_MEMORY`` or set it
to 0 for such builds). There is no per-build CPU or process limit here: ``RLIMIT_NPROC`` counts
every process of the worker's user, not the build's, so it is not used.

Credentials: ``registry_logins`` are ignored (there are no images to pull). ``home_files``
(ssh keys, maven settings) are ignored too: the only ``$HOME`` here is the worker's own, and
writing a build's keys there would hand them to every later build on the host and leave them
on its disk. Builds on this executor get the account's env secrets only (in ``run_stage``'s
``env``), like everywhere.

Each stage is a new session (``start_new_session``), so its whole process group can be
signalled with :func:`os.killpg`: SIGTERM, then SIGKILL after the grace period. Background
processes a stage leaves behind are not killed when it ends normally (nothing tracks them once
the stage is over); only a kill reaches them, and only while they stay in the stage's group.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from ocelot import gitops
from ocelot.errors import ExecutorError
from ocelot.executors.base import (
    NO_HOME_FILES,
    BuildKey,
    HomeFile,
    ImageOutcome,
    ImageRequest,
    OutputCallback,
    RegistryLogin,
    ResourceLimits,
    StageOutcome,
    StopCheck,
    exit_status,
    supervise,
)

_WORKSPACE_RE = re.compile(r"^(\d+)-(\d+)$")
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


class LocalExecutor:
    """Runs stages as subprocesses in ``workspaces/<build_id>-<attempt>``. Isolates nothing."""

    name = "local"

    def __init__(
        self, workspaces: Path, worker: str, *, limits: ResourceLimits | None = None
    ) -> None:
        self.workspaces = workspaces
        self.worker = worker
        self.limits = limits or ResourceLimits()

    def workspace(self, key: BuildKey) -> Path:
        return self.workspaces / key.slug

    def _owner_file(self, key: BuildKey) -> Path:
        return self.workspaces / f".{key.slug}.worker"

    def prepare(
        self,
        key: BuildKey,
        checkout: Path,
        image: str | None,
        env: Mapping[str, str],
        *,
        registry_logins: Sequence[RegistryLogin] = (),
        home_files: Mapping[str, HomeFile] = NO_HOME_FILES,
    ) -> str:
        """Copy ``checkout`` to a fresh workspace directory. ``image``, ``env``,
        ``registry_logins`` and ``home_files`` are ignored (module docstring)."""
        if not checkout.is_dir():
            raise ExecutorError(f"checkout {checkout} is not a directory")
        target = self._fresh_workspace(key)
        try:
            shutil.copytree(checkout, target, symlinks=True)
        except OSError as exc:
            raise ExecutorError(f"could not create workspace {target}: {exc}") from exc
        return str(target.resolve())

    def _fresh_workspace(self, key: BuildKey) -> Path:
        """The workspace path of ``key``, gone (a retried prepare starts from scratch), with
        this worker recorded as its owner."""
        target = self.workspace(key)
        try:
            self.workspaces.mkdir(parents=True, exist_ok=True)
            self._owner_file(key).write_text(self.worker + "\n")
            if target.exists():
                shutil.rmtree(target)
        except OSError as exc:
            raise ExecutorError(f"could not create workspace {target}: {exc}") from exc
        return target

    def check_out(self, key: BuildKey, mirror: Path, commit: str) -> str:
        """Check ``commit`` out of ``mirror`` straight into a fresh workspace: the fast path of
        ``prepare`` (one git process, no copy; :func:`ocelot.gitops.shared_checkout`). The
        workspace is a normal git checkout, detached at ``commit``, that borrows the mirror's
        objects; it registers nothing in the mirror, so removing it is all the clean-up."""
        target = self._fresh_workspace(key)
        try:
            gitops.shared_checkout(mirror, commit, target)
        except OSError as exc:
            raise ExecutorError(f"could not create workspace {target}: {exc}") from exc
        return str(target.resolve())

    def run_stage(
        self,
        key: BuildKey,
        stage: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        workdir: str,
        *,
        image: str | None,
        on_output: OutputCallback,
        should_stop: StopCheck,
        timeout: float | None,
        grace: float,
        registry_logins: Sequence[RegistryLogin] = (),
    ) -> StageOutcome:
        if image is not None:
            raise ExecutorError(
                f"stage {stage!r} asks for image {image!r}, but this worker runs stages "
                "locally and cannot run images"
            )
        full_env = {
            "PATH": os.environ.get("PATH", _DEFAULT_PATH),
            "HOME": os.environ.get("HOME", "/"),
            **env,
        }
        if argv and shutil.which(argv[0], path=full_env["PATH"]) is None:
            # what Popen said before the memory cap started the stage through sh
            raise ExecutorError(f"could not start stage {stage!r}: {argv[0]}: not found")
        try:
            proc = subprocess.Popen(
                _capped(list(argv), self.limits.memory),
                cwd=workdir,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ExecutorError(f"could not start stage {stage!r}: {exc}") from exc
        assert proc.stdout is not None
        stdout = proc.stdout
        stop_reading = threading.Event()

        def send_signal(sig: signal.Signals) -> None:
            # The stage leads its own session and group (start_new_session): pgid == pid.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

        try:
            seen = supervise(
                _read(stdout.fileno(), stop_reading),
                on_output=on_output,
                should_stop=should_stop,
                timeout=timeout,
                grace=grace,
                send_signal=send_signal,
                close=stop_reading.set,
                exited=lambda: proc.poll() is not None,
            )
        finally:
            with contextlib.suppress(OSError, ValueError):
                stdout.close()
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            send_signal(signal.SIGKILL)
            code = proc.wait()
        return StageOutcome(
            exit_code=exit_status(code),
            timed_out=seen.timed_out,
            killed=seen.killed,
            error=seen.error,
        )

    def build_image(
        self,
        key: BuildKey,
        stage: str,
        request: ImageRequest,
        *,
        on_output: OutputCallback,
        should_stop: StopCheck,
        timeout: float | None,
    ) -> ImageOutcome:
        """Image stages need a Docker daemon: this executor has none."""
        raise ExecutorError(
            f"stage {stage!r} builds an image, which needs a worker with the docker executor"
        )

    def destroy(self, key: BuildKey) -> None:
        """Remove the workspace directory and its owner file; missing ones are fine."""
        target = self.workspace(key)
        try:
            shutil.rmtree(target, ignore_errors=False)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ExecutorError(f"could not remove workspace {target}: {exc}") from exc
        self._owner_file(key).unlink(missing_ok=True)

    def cleanup(self, worker: str, keep: Callable[[BuildKey], bool]) -> list[str]:
        """Remove workspaces owned by ``worker`` whose key ``keep`` rejects."""
        removed: list[str] = []
        if not self.workspaces.is_dir():
            return removed
        for path in sorted(self.workspaces.iterdir()):
            match = _WORKSPACE_RE.match(path.name)
            if not match or not path.is_dir():
                continue
            key = BuildKey(int(match[1]), int(match[2]))
            try:
                owner = self._owner_file(key).read_text().strip()
            except OSError:
                continue  # not ours to judge
            if owner != worker or keep(key):
                continue
            self.destroy(key)
            removed.append(str(path))
        return removed


def _capped(argv: list[str], memory: int | None) -> list[str]:
    """``argv`` started through ``sh``, which lowers its ``RLIMIT_AS`` (soft and hard, so the
    stage cannot raise it again) to ``memory`` bytes and then ``exec``s it; ``argv`` itself
    without a cap. Never fails the stage where the limit cannot be set (it is above the hard
    limit already in force, or the platform refuses: macOS does not enforce ``RLIMIT_AS``).

    Not a ``preexec_fn``: that makes Python fork the whole worker process instead of using
    ``vfork`` (~5 ms a stage, against ~1 ms for the extra ``sh``)."""
    if not memory:
        return argv
    script = f'ulimit -v {max(memory // 1024, 1)} 2>/dev/null; exec "$@"'
    return ["/bin/sh", "-c", script, "ocelot-stage", *argv]


def _read(fd: int, stop: threading.Event) -> Iterator[bytes]:
    """Yield what the pipe has as soon as it has it, until EOF or ``stop`` is set.

    ``select`` with a short timeout, because closing a pipe does not wake a thread blocked in
    ``read`` on it, and a background process of the stage may hold the pipe open forever.
    """
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        yield chunk
