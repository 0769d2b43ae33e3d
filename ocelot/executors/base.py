"""The executor contract: how a worker runs a build's stages somewhere.

An :class:`Executor` turns plain values from the worker (a :class:`BuildKey`, a checkout
directory, argv, environment) into running processes, and nothing else: it knows no DB rows,
no Celery, no forge. Two backends implement it: ``docker`` (:mod:`ocelot.executors.docker`)
and ``local`` (:mod:`ocelot.executors.local`); :func:`ocelot.executors.make_executor` picks
one by ``settings.worker_executor``.

Lifecycle
    ``prepare`` once per build attempt, then ``run_stage`` once per stage (in order, one at a
    time), then ``destroy``. Each call may run in a different Celery task and even a different
    worker process, so executors are *stateless*: everything a call needs is found again from
    the :class:`BuildKey` (container and volume names, labels, directory names). ``prepare``
    and ``destroy`` are idempotent, so a retried task is harmless: ``prepare`` throws away
    whatever an earlier attempt at the same key left behind, ``destroy`` of a key that is
    already gone does nothing. ``cleanup`` runs when a worker starts (and periodically) to
    remove leftovers of crashed builds labelled with that worker's name.

Environment
    ``run_stage``'s ``env`` is the complete set of variables the stage needs on top of the
    image's (docker) or the worker's minimal PATH/HOME (local). ``prepare``'s ``env`` is
    applied to the build environment where there is one (docker: the build container), but
    stages must not depend on it; secrets belong in ``run_stage``'s ``env`` and never in
    images, labels or logs.

Credentials
    The runner decides what a build may have (:mod:`ocelot.runner.secrets`); an executor only
    delivers it, and is the only code that talks to its backend. ``registry_logins`` (of
    ``prepare`` and ``run_stage``) are the registry logins the build may use: an executor that
    pulls images pulls the build's image, and a stage's own ``image``, with the login whose
    :attr:`RegistryLogin.registry` is the image's registry, every time (so a revoked login
    takes effect at once), handing the login to the daemon with that request only; images of
    a registry without a login are used as found, or pulled anonymously. ``home_files``
    (``prepare`` only) are files for ``$HOME`` of the build environment (ssh keys, maven
    settings), given by path relative to ``$HOME``; they must not outlive the build attempt
    nor reach the worker's disk. What each backend does with them is in its docstring.

Concurrency
    One executor object may serve several builds at once from different threads or
    processes; calls for *different* keys never interfere. Calls for one key are sequential,
    except that ``destroy``/``cleanup`` may race a ``run_stage`` of a build being killed (the
    stage then ends with an ``error``). Callbacks (``on_output``, ``should_stop``) are always
    invoked in the thread that called ``run_stage``, never from a helper thread.

Errors
    Failures of the execution machinery raise :class:`ocelot.errors.ExecutorError` with a
    message fit for the build log ("image X not found on this worker's docker daemon", "docker
    daemon unreachable at ..."). A *stage* that fails is not an error: ``run_stage`` returns a
    :class:`StageOutcome` with its exit code. Once a stage has started, ``run_stage`` always
    returns an outcome; trouble after the start (daemon gone mid-stage, a process that would
    not die) is reported in ``StageOutcome.error``. An exception raised by a callback kills
    the stage and then propagates.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

OutputCallback = Callable[[bytes], None]
"""Receives raw merged stdout/stderr chunks of a stage as they arrive (not at the end)."""

StopCheck = Callable[[], bool]
"""Polled about every :data:`POLL_SECONDS` while a stage runs; ``True`` means kill it."""

POLL_SECONDS = 0.2
KILL_WAIT_SECONDS = 5.0
"""How long to wait for a stage's output to end after SIGKILL before giving up on it."""
DRAIN_SECONDS = 2.0
"""After the stage's main process exits, how long to wait for background processes that
still hold its output open (docker itself waits about 2 s) before we stop reading."""


@dataclass(frozen=True)
class BuildKey:
    """Identifies one attempt of one build; every resource of the attempt is named after it."""

    build_id: int
    attempt: int

    @property
    def slug(self) -> str:
        return f"{self.build_id}-{self.attempt}"


@dataclass(frozen=True)
class StageOutcome:
    """How a stage ended.

    ``exit_code`` is the stage's exit status (128 + N when a signal N ended it) or ``None`` when
    it is unknown. ``timed_out``: the stage's timeout expired and it was killed. ``killed``:
    ``should_stop`` asked for the kill. ``error``: the executor lost track of the stage.
    """

    exit_code: int | None
    timed_out: bool = False
    killed: bool = False
    error: str | None = None


DOCKER_HUB = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)


def registry_host(url: str) -> str:
    """The registry a URL names, as :attr:`RegistryLogin.registry` spells it:
    ``https://index.docker.io/v1/`` → ``docker.io``, ``127.0.0.1:5000/secret`` →
    ``127.0.0.1:5000``, ``http://Reg.Example.com:8443/x`` → ``reg.example.com:8443``."""
    host = url.strip().split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in DOCKER_HUB else host


@dataclass(frozen=True)
class RegistryLogin:
    """A login for one image registry. ``registry`` is ``host[:port]`` as
    :func:`registry_host` spells it (``docker.io`` for Docker Hub). Never logged."""

    registry: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class HomeFile:
    """A file an executor puts under ``$HOME`` of the build environment. Its directories are
    created 0700. Never logged."""

    content: str = field(repr=False)
    mode: int = 0o600


NO_HOME_FILES: Mapping[str, HomeFile] = MappingProxyType({})


def image_registry(image: str) -> str:
    """The registry an image name points at, by Docker's rule (the first path component is a
    registry when it has a ``.`` or ``:`` or is ``localhost``; otherwise Docker Hub):
    ``127.0.0.1:5000/team/app:1`` → ``127.0.0.1:5000``, ``alpine`` → ``docker.io``."""
    first, _, rest = image.strip().partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return registry_host(first)
    return "docker.io"


def login_for(registry: str, logins: Sequence[RegistryLogin]) -> RegistryLogin | None:
    """The login of ``logins`` for ``registry`` (``host[:port]``), if any."""
    wanted = registry_host(registry)
    return next((login for login in logins if login.registry == wanted), None)


@dataclass(frozen=True)
class ImageRequest:
    """An image stage for :meth:`Executor.build_image`. Paths are relative to the workspace.

    ``tags`` are applied on the daemon; ``push`` tags (a subset) are pushed with
    ``push_login``. ``reusable`` maps a context digest to ``(image id, who built it)``: images
    the runner vouches for (made by trusted builds), reused when the daemon still has one.
    ``refused_registries``: a ``FROM`` image from one of them ends the stage before Docker
    builds anything (a login the build may not use). ``logins``: for pulling ``FROM`` images.
    """

    dockerfile: str
    context: str
    tags: tuple[str, ...] = ()
    push: tuple[str, ...] = ()
    push_login: RegistryLogin | None = None
    build_args: Mapping[str, str] = field(default_factory=dict, repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)
    reusable: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    refused_registries: frozenset[str] = frozenset()
    logins: Sequence[RegistryLogin] = ()


@dataclass(frozen=True)
class ImageOutcome:
    """How an image stage ended: ``outcome`` as for any stage; the image's id, context digest,
    the build it was reused from (None: built now) and ``{tag: digest}`` of what was pushed."""

    outcome: StageOutcome
    image_id: str | None = None
    context: str | None = None
    reused_from: str | None = None
    pushed: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceLimits:
    """Fences of a build's processes (``OCELOT_BUILD_*``); ``None`` or 0 means no limit.

    The docker executor applies all three to every container it creates (cgroups: the
    memory limit with no swap beyond it, CPU time, number of processes and threads). The
    local executor can only apply ``memory``, as ``RLIMIT_AS`` (virtual address space) of each
    stage process; it has no per-build CPU or process limit.
    """

    memory: int | None = None  # bytes
    cpus: float | None = None
    pids: int | None = None


class Executor(Protocol):
    """A place to run a build's stages. See the module docstring for the contract."""

    name: str

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
        """Create the build environment and put a copy of ``checkout`` in its workspace.

        ``image`` is pulled with the matching one of ``registry_logins``, and ``home_files``
        go to ``$HOME`` (module docstring, "Credentials"). Returns the workspace path as the
        stage scripts see it ("/workspace" in docker).
        """
        ...

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
        """Run ``argv`` in ``workdir`` with ``env``, streaming its output to ``on_output``.

        When ``should_stop()`` turns true or ``timeout`` seconds pass, the stage's processes get
        SIGTERM and, ``grace`` seconds later, SIGKILL. ``image`` not ``None`` runs the stage in
        a container of its own from that image, sharing the build's workspace; it is pulled
        with the matching one of ``registry_logins`` (the build's, as given to ``prepare``).
        """
        ...

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
        """Build an image from the build's workspace on the worker's side (the build
        environment never gets the means to build), stream Docker's output to ``on_output``,
        tag it and push it. ``should_stop`` and ``timeout`` abandon the build or push."""
        ...

    def destroy(self, key: BuildKey) -> None:
        """Remove everything of the build attempt. Idempotent; "already gone" is not an error."""
        ...

    def cleanup(self, worker: str, keep: Callable[[BuildKey], bool]) -> list[str]:
        """Remove leftovers of ``worker`` whose key ``keep`` rejects; return what was removed."""
        ...


@dataclass
class Supervision:
    """What :func:`supervise` saw: why the stage ended, as far as the stream can tell."""

    timed_out: bool = False
    killed: bool = False
    error: str | None = None


_EOF = object()


def _pump(chunks: Iterable[bytes], out: queue.Queue[object]) -> None:
    try:
        for chunk in chunks:
            if chunk:
                out.put(chunk)
    except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
        out.put(exc)
    finally:
        out.put(_EOF)


def supervise(
    chunks: Iterable[bytes],
    *,
    on_output: OutputCallback,
    should_stop: StopCheck,
    timeout: float | None,
    grace: float,
    send_signal: Callable[[signal.Signals], None],
    close: Callable[[], None],
    exited: Callable[[], bool] | None = None,
) -> Supervision:
    """Read ``chunks`` in a helper thread while this thread feeds ``on_output`` and polls.

    Reading in a thread keeps a silent stage from blocking the stop/timeout checks. Escalates
    ``send_signal(SIGTERM)`` then ``send_signal(SIGKILL)`` after ``grace``; ``close`` aborts the
    reader when the stream will not end by itself. ``exited`` (optional) tells whether the
    stage's main process is gone, so a background process holding the output open cannot keep
    the stage alive for more than :data:`DRAIN_SECONDS`.
    """
    result = Supervision()
    inbox: queue.Queue[object] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(chunks, inbox), name="ocelot-stage-reader")
    reader.daemon = True
    reader.start()
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    last_poll = 0.0
    term_at: float | None = None
    kill_at: float | None = None
    exited_at: float | None = None
    last_exit_check = 0.0
    try:
        while True:
            try:
                item = inbox.get(timeout=POLL_SECONDS / 2)
            except queue.Empty:
                item = None
            if item is _EOF:
                break
            if isinstance(item, BaseException):
                if term_at is None:  # an aborted read after a kill is expected, not an error
                    result.error = f"lost the stage's output stream: {item}"
                continue
            if isinstance(item, bytes):
                on_output(item)
            now = time.monotonic()
            if term_at is None:
                if now - last_poll >= POLL_SECONDS:
                    last_poll = now
                    if should_stop():
                        result.killed = True
                if not result.killed and deadline is not None and now >= deadline:
                    result.timed_out = True
                if result.killed or result.timed_out:
                    term_at = now
                    send_signal(signal.SIGTERM)
            elif kill_at is None and now >= term_at + grace:
                kill_at = now
                send_signal(signal.SIGKILL)
            elif kill_at is not None and now >= kill_at + KILL_WAIT_SECONDS:
                result.error = "the stage's processes did not end after SIGKILL"
                close()
                break
            if exited is not None and now - last_exit_check >= POLL_SECONDS:
                last_exit_check = now
                if exited():
                    exited_at = exited_at or now
                    if now - exited_at >= DRAIN_SECONDS:
                        close()
                        break
    except BaseException:
        with contextlib.suppress(Exception):
            send_signal(signal.SIGKILL)
        close()
        raise
    finally:
        reader.join(timeout=1.0)
    return result


def exit_status(returncode: int | None) -> int | None:
    """Normalise a ``subprocess`` return code: death by signal N becomes 128 + N, like a shell."""
    if returncode is not None and returncode < 0:
        return 128 - returncode
    return returncode
