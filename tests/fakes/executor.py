"""A scripted executor: a real implementation of the Executor Protocol that runs no process.

The runner hands an executor ``["sh", "-c", "cd <workdir> && <line 1> && <line 2> ..."]``
for a stage (:func:`ocelot.pipeline.stage_command`). :class:`ScriptedExecutor` reads the
lines after the ``cd`` as commands of a tiny language instead of running a shell, so a test
writes what a stage does in its ``ocelot.yml``::

    echo TEXT...       print a line
    env NAME           print NAME=<its value in the stage's environment>
    sleep SECONDS      wait; SIGTERM ends the stage (exit 143), SIGKILL too (137)
    trap-term          from now on SIGTERM is ignored: only SIGKILL ends a sleep
    exit N             end with exit code N (the lines after it do not run)
    fail-first N       the first N runs of this stage in this build: print and exit 1
    lose WORDS         the executor loses track of the stage (StageOutcome.error)
    crash WORDS        run_stage raises ExecutorError before the stage starts
    freeze SECONDS     the worker is frozen: for that long nobody polls ``should_stop``
                       (so nobody renews the lease or looks for a kill), then it goes on

Anything else prints ``sh: X: not found`` and exits 127, like a shell. Output, stop requests,
stage timeouts and the SIGTERM → grace → SIGKILL escalation go through the executors' own
:func:`ocelot.executors.base.supervise`, so ``should_stop`` and ``timeout`` are honoured
exactly as the docker and local executors honour them.

Every call is recorded in :attr:`ScriptedExecutor.calls`; :attr:`environments` holds the
attempts prepared and not yet destroyed, so tests can assert the clean-up.
``fail_prepare`` makes the next ``prepare`` raise :class:`ExecutorError` with that message,
``fail_destroy`` every ``destroy`` (a daemon that cannot be reached) until it is reset.
"""

from __future__ import annotations

import shlex
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocelot.errors import ExecutorError
from ocelot.executors.base import (
    NO_HOME_FILES,
    BuildKey,
    HomeFile,
    OutputCallback,
    RegistryLogin,
    StageOutcome,
    StopCheck,
    supervise,
)

TICK = 0.02


@dataclass(frozen=True)
class Call:
    """One call to the executor, with what the runner passed."""

    method: str  # prepare | run_stage | destroy | cleanup
    key: BuildKey | None
    stage: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def script_lines(argv: Sequence[str]) -> list[list[str]]:
    """The commands of ``sh -c "cd W && a && b"``: ``[["a", ...], ["b", ...]]``."""
    if len(argv) != 3 or list(argv[:2]) != ["sh", "-c"]:
        raise ExecutorError(f"the scripted executor runs `sh -c SCRIPT` only, got {argv!r}")
    parts = argv[2].split(" && ")
    if parts and parts[0].startswith("cd "):
        parts = parts[1:]
    return [shlex.split(part) for part in parts if part.strip()]


class _Stage:
    """A running stage: its commands play in the reader thread of ``supervise``."""

    def __init__(self, lines: list[list[str]], env: Mapping[str, str], run: int) -> None:
        self.lines, self.env, self.run = lines, env, run
        self.exit_code: int | None = None
        self.error: str | None = None
        self.frozen = threading.Event()
        self._term = threading.Event()
        self._kill = threading.Event()
        self._ignore_term = False

    def signal(self, sig: signal.Signals) -> None:
        (self._kill if sig == signal.SIGKILL else self._term).set()

    def close(self) -> None:
        self._kill.set()

    def _signalled(self) -> bool:
        if self._kill.is_set():
            self.exit_code = 128 + signal.SIGKILL
            return True
        if self._term.is_set() and not self._ignore_term:
            self.exit_code = 128 + signal.SIGTERM
            return True
        return False

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; True when a signal ended the stage meanwhile."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if self._signalled():
                return True
            time.sleep(TICK)
        return self._signalled()

    def output(self) -> Iterator[bytes]:
        for words in self.lines:
            if self._signalled():
                return
            command, args = words[0], words[1:]
            if command == "echo":
                yield (" ".join(args) + "\n").encode()
            elif command == "env":
                yield "".join(f"{n}={self.env.get(n, '')}\n" for n in args).encode()
            elif command == "sleep":
                if self._sleep(float(args[0])):
                    return
            elif command == "trap-term":
                self._ignore_term = True
            elif command == "exit":
                self.exit_code = int(args[0])
                return
            elif command == "fail-first":
                if self.run <= int(args[0]):
                    yield f"failing on purpose (run {self.run})\n".encode()
                    self.exit_code = 1
                    return
            elif command == "lose":
                self.error = " ".join(args) or "lost"
                return
            elif command == "freeze":
                self.frozen.set()
                time.sleep(float(args[0]))
                self.frozen.clear()
            else:
                yield f"sh: {command}: not found\n".encode()
                self.exit_code = 127
                return
        self.exit_code = 0


class ScriptedExecutor:
    """See the module docstring. Thread-safe; one object may serve several builds."""

    name = "scripted"

    def __init__(self, worker: str = "scripted-worker") -> None:
        self.worker = worker
        self.calls: list[Call] = []
        self.environments: set[BuildKey] = set()
        self.checkouts: dict[BuildKey, dict[str, str]] = {}
        self.fail_prepare: str | None = None
        self.fail_destroy: str | None = None
        self._runs: Counter[tuple[int, str]] = Counter()
        self._lock = threading.Lock()

    # -- the Executor Protocol ------------------------------------------------------------

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
        details = {"image": image, "env": dict(env), "home_files": sorted(home_files)}
        self._record(Call("prepare", key, details=details))
        if not checkout.is_dir():
            raise ExecutorError(f"checkout {checkout} is not a directory")
        with self._lock:
            failure, self.fail_prepare = self.fail_prepare, None
            if failure:
                raise ExecutorError(failure)
            self.checkouts[key] = {
                str(path.relative_to(checkout)): path.read_text(errors="replace")
                for path in sorted(checkout.rglob("*"))
                if path.is_file() and ".git" not in path.relative_to(checkout).parts
            }
            self.environments.add(key)
        return f"/scripted/{key.slug}"

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
        details = {
            "argv": list(argv),
            "env": dict(env),
            "workdir": workdir,
            "image": image,
            "timeout": timeout,
            "grace": grace,
        }
        self._record(Call("run_stage", key, stage, details))
        lines = script_lines(argv)
        with self._lock:
            if key not in self.environments:
                raise ExecutorError(f"environment {key.slug} not found; was it prepared?")
            self._runs[(key.build_id, stage)] += 1
            run = self._runs[(key.build_id, stage)]
        for words in lines:
            if words[0] == "crash":
                raise ExecutorError(" ".join(words[1:]) or "crash")
        running = _Stage(lines, env, run)
        seen = supervise(
            running.output(),
            on_output=on_output,
            should_stop=_unless_frozen(running.frozen, should_stop),
            timeout=timeout,
            grace=grace,
            send_signal=running.signal,
            close=running.close,
        )
        return StageOutcome(
            running.exit_code, seen.timed_out, seen.killed, seen.error or running.error
        )

    def destroy(self, key: BuildKey) -> None:
        self._record(Call("destroy", key))
        if self.fail_destroy:
            raise ExecutorError(self.fail_destroy)
        with self._lock:
            self.environments.discard(key)

    def cleanup(self, worker: str, keep: Callable[[BuildKey], bool]) -> list[str]:
        self._record(Call("cleanup", None, details={"worker": worker}))
        removed = []
        with self._lock:
            candidates = sorted(self.environments, key=lambda k: (k.build_id, k.attempt))
        for key in candidates:
            if worker == self.worker and not keep(key):
                with self._lock:
                    self.environments.discard(key)
                removed.append(f"environment {key.slug}")
        return removed

    # -- for tests --------------------------------------------------------------------------

    def calls_of(self, method: str, build_id: int | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self.calls
                if c.method == method
                and (build_id is None or (c.key is not None and c.key.build_id == build_id))
            ]

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)


def _unless_frozen(frozen: threading.Event, should_stop: StopCheck) -> StopCheck:
    """``should_stop``, not consulted while the (simulated) worker is frozen."""
    return lambda: False if frozen.is_set() else should_stop()
