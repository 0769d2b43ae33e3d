"""The docker executor: one long-lived container per build, stages run as ``docker exec``.

Resources of a build attempt, found again from its :class:`BuildKey` and labelled
``ocelot.build_id``, ``ocelot.attempt``, ``ocelot.worker`` (``cleanup`` and janitors use them):
volume ``ocelot-ws-<instance>-<build_id>-<attempt>`` mounted at ``/workspace``; build container
``ocelot-<instance>-<build_id>-<attempt>`` from the build's image, whose entrypoint only
waits on its stdin, the dead-man's switch that stops it when its worker dies
(:mod:`ocelot.executors.deadman`; ``init=True`` reaps zombies); for a stage with its own
``image``, container ``ocelot-<build_id>-<attempt>-<stage>`` (labelled ``ocelot.stage``
too) on the same volume, removed when the stage ends.

Fences: every container (build and stage ones) gets the :class:`ResourceLimits` of the
worker (``OCELOT_BUILD_MEMORY`` with swap equal to it, so no swap beyond; ``OCELOT_BUILD_CPUS``,
capped at the daemon's CPU count; ``OCELOT_BUILD_PIDS``), ``no-new-privileges`` (setuid
binaries such as ``sudo`` and ``su`` cannot raise privileges) and drops :data:`CAP_DROP` from
docker's default capabilities. The limits are per container: a stage with its own ``image``
has the same budget again.

Killing a stage: see :mod:`ocelot.executors.docker_exec`.

Warm pool (``OCELOT_WARM_CONTAINERS``, :mod:`ocelot.executors.warm_pool`): ``prepare`` of an
image used without a registry login first claims a fresh, never-used pool container (renamed
to the build container's name; its volume is ``ocelot-ws-<instance>-pool-<token>``, named by
its ``ocelot.pool`` label) and only makes one when the pool has none. Everything that finds the
build container by name finds a claimed one too; the workspace volume is read from the build
container (:meth:`DockerExecutor.workspace_volume`), and ``destroy``/``cleanup`` remove a
claimed container with its pool volume.

The checkout goes into the volume as a tar, never bind-mounted, so a daemon on another host
(``DOCKER_HOST``) works the same. When the container's user is root, ``prepare`` stashes the
tar and the first stage's exec unpacks it from its stdin before the script runs, which saves
``put_archive``'s round trip and daemon work (:mod:`ocelot.executors.docker_unpack`, with its
fallbacks). Otherwise ``prepare`` copies it in with ``put_archive``, its files owned by the
container's user (``id -u``/``id -g``), so a non-root image can write them.

Credentials: an image (the build's, or a stage's own) whose registry has one of the
``registry_logins`` is pulled with that login on every use, the login passed to the daemon
with the pull request (no ``docker login``, no ``~/.docker/config.json`` anywhere); other
images are used when the daemon has them, else pulled anonymously. ``home_files`` are
streamed from memory (``put_archive`` of a tar built in memory) into ``$HOME`` of the build
container, owned by the container's user, directories 0700: they never touch the worker's
disk, are in no image and go away with the container. Stage containers of a stage's own
``image`` do not get them.

"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from ocelot.errors import ExecutorError
from ocelot.executors import deadman, docker_image, docker_unpack, warm_pool
from ocelot.executors.archives import home_archive
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
    image_registry,
    login_for,
    supervise,
)
from ocelot.executors.docker_exec import Leader, close_stream, exit_code, signal_stage, wrap
from ocelot.executors.docker_unpack import WORKSPACE

LABEL_BUILD = "ocelot.build_id"
LABEL_ATTEMPT = "ocelot.attempt"
LABEL_WORKER = "ocelot.worker"
# Which Ocelot installation (database) a resource belongs to: build ids are only unique
# within one, and two installations may share a Docker daemon.
LABEL_INSTANCE = "ocelot.instance"
LABEL_STAGE = "ocelot.stage"

# Docker's default capabilities that builds do not need: raw sockets (packet spoofing on the
# bridge), device nodes, chroot, audit log writes, file capabilities.
CAP_DROP = ("NET_RAW", "MKNOD", "SYS_CHROOT", "AUDIT_WRITE", "SETFCAP")
SECURITY_OPT = ("no-new-privileges",)

# The container user's $HOME (made if missing), uid and gid, one per line.
_WHO_AND_WHERE = 'mkdir -p "${HOME:-/root}" && printf "%s\\n" "${HOME:-/root}" && id -u && id -g'


def _ns(instance: str) -> str:
    return f"{instance}-" if instance else ""


def container_name(key: BuildKey, instance: str = "") -> str:
    return f"ocelot-{_ns(instance)}{key.slug}"


def volume_name(key: BuildKey, instance: str = "") -> str:
    return f"ocelot-ws-{_ns(instance)}{key.slug}"


def stage_container_name(key: BuildKey, stage: str, instance: str = "") -> str:
    return f"ocelot-{_ns(instance)}{key.slug}-{re.sub(r'[^a-zA-Z0-9_.-]+', '-', stage)[:60]}"


def image_login(image: str, logins: Sequence[RegistryLogin]) -> RegistryLogin | None:
    """The login of ``logins`` for the registry of ``image`` (None for a malformed name)."""
    return login_for(image_registry(image), logins) if logins else None


class DockerExecutor:
    """Runs builds in containers of a docker daemon (local or remote). Stateless per build."""

    name = "docker"

    def __init__(
        self,
        worker: str,
        *,
        docker_host: str | None = None,
        instance: str = "",
        limits: ResourceLimits | None = None,
        warm: int = 0,
        pool_root: Path | None = None,
        stash_root: Path | None = None,
    ) -> None:
        self.worker = worker
        self.warm = warm  # OCELOT_WARM_CONTAINERS; 0 or no pool_root: no pool
        self.pool_root = pool_root
        # checkouts waiting for the first stage's exec (docker_unpack); None: put_archive
        self.stash = docker_unpack.Stash(stash_root) if stash_root is not None else None
        # where this worker's stdin holder takes hold requests (deadman: none is fine)
        self.hold_address = deadman.holder_address(instance, worker)
        self.instance = instance
        self.docker_host = docker_host
        self.limits = limits or ResourceLimits()
        self._docker: docker.DockerClient | None = None
        self._docker_pid = 0
        self._host_cpus: int | None = None

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
        """Create volume and build container, copy ``checkout`` and ``home_files`` in; returns
        ``/workspace``. ``image`` is pulled with its registry's login, if there is one."""
        if not image:
            raise ExecutorError("the docker executor needs an image for the build")
        if not checkout.is_dir():
            raise ExecutorError(f"checkout {checkout} is not a directory")
        client = self.client()
        self.destroy(key)  # a retried prepare starts from scratch
        found = self._ensure_image(client, image, registry_logins)
        try:
            container = None
            # A warm container has no environment, and only an image used without a login
            # is pooled (a login's image is pulled, with the login, on every use).
            poolable = found is not None and not env
            if found is not None and poolable:
                container = self._claim(client, key, image, found)
            if container is None:
                with self._api(f"create the build container from {image}"):
                    client.volumes.create(
                        name=volume_name(key, self.instance), labels=self._labels(key)
                    )
                    container = self._start(
                        client, image, container_name(key, self.instance), key, env=env
                    )
                if poolable:
                    warm_pool.missed(self, image)
            uid, gid = self._user_ids(container)
            if uid == 0 and self.stash is not None and docker_unpack.can_send(client):
                # under the build's name: a claimed pool container's object has its old one
                self.stash.put(container_name(key, self.instance), checkout)
            else:
                self._copy_in(container, checkout, uid, gid)
            if home_files:
                self._put_home_files(container, home_files)
        except BaseException:
            with contextlib.suppress(ExecutorError):
                self.destroy(key)
            raise
        return WORKSPACE

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
        client = self.client()
        with self._stage_container(
            client, key, stage, image, registry_logins, unpack=False
        ) as container:
            name = container_name(key, self.instance)
            stashed = self.stash.get(name) if self.stash and image is None else None
            if stashed is not None:
                outcome = self._first_stage(
                    client, container, name, stashed, argv, env, workdir, on_output=on_output,
                    should_stop=should_stop, timeout=timeout, grace=grace,
                )  # fmt: skip
                if outcome is not None:
                    return outcome
            with self._api(f"start the stage in {container.name}"):
                exec_id = client.api.exec_create(
                    container.id,
                    wrap(argv),
                    environment=dict(env),
                    workdir=workdir,
                )["Id"]
                stream = client.api.exec_start(exec_id, stream=True)
            return self._supervised(
                client, container, exec_id, stream, lambda: close_stream(stream),
                on_output=on_output, should_stop=should_stop, timeout=timeout, grace=grace,
            )  # fmt: skip

    def _first_stage(
        self,
        client: docker.DockerClient,
        container: Container,
        name: str,
        stashed: Path,
        argv: Sequence[str],
        env: Mapping[str, str],
        workdir: str,
        *,
        on_output: OutputCallback,
        should_stop: StopCheck,
        timeout: float | None,
        grace: float,
    ) -> StageOutcome | None:
        """Run the build's first stage with the stashed checkout on its exec's stdin
        (:mod:`ocelot.executors.docker_unpack`); None when the image has no ``tar`` (the
        checkout then went in with ``put_archive``: run the stage as any other)."""
        with self._api(f"start the stage in {container.name}"):
            first = docker_unpack.StdinExec(
                client, container.id, docker_unpack.unpacking(workdir, argv), stashed,
                environment=env,
            )  # fmt: skip
        leader = Leader()
        try:
            outcome = self._supervised(
                client, container, first.exec_id, first.chunks(), first.close, leader=leader,
                on_output=on_output, should_stop=should_stop, timeout=timeout, grace=grace,
            )  # fmt: skip
        finally:
            first.close()
        if leader.pid is None and outcome.exit_code == docker_unpack.UNPACK_MISSING:
            self._unstash(container, name)  # no tar in the image: the daemon unpacks it
            return None
        assert self.stash is not None
        self.stash.discard(name)
        return outcome

    def _supervised(
        self,
        client: docker.DockerClient,
        container: Container,
        exec_id: str,
        chunks: Iterable[bytes],
        close: Callable[[], None],
        *,
        on_output: OutputCallback,
        should_stop: StopCheck,
        timeout: float | None,
        grace: float,
        leader: Leader | None = None,
    ) -> StageOutcome:
        """Follow a stage's exec to its end: output, timeout, stop requests, exit code."""
        lead = leader if leader is not None else Leader()
        seen = supervise(
            lead.strip(chunks),
            on_output=on_output,
            should_stop=should_stop,
            timeout=timeout,
            grace=grace,
            send_signal=lambda sig: signal_stage(client, container, lead, sig),
            close=close,
        )
        close()
        error, code = seen.error, exit_code(client, exec_id)
        if code is None:
            # The exec would not end: kill the whole container, the only sure way left.
            with contextlib.suppress(DockerException, requests.RequestException):
                container.kill()
            error = f"{error or 'the stage did not end'}; killed container {container.name}"
            code = exit_code(client, exec_id)
        return StageOutcome(code, seen.timed_out, seen.killed, error)

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
        """Build from the build container's workspace on the worker's side of the API
        (:mod:`ocelot.executors.docker_image`); the build container gets no socket."""
        client = self.client()
        with (
            self._stage_container(client, key, stage, None) as container,
            self._api(f"build the image of stage {stage!r}"),
        ):
            return docker_image.build(
                client,
                container,
                request,
                memory=self.limits.memory,
                on_output=on_output,
                should_stop=should_stop,
                timeout=timeout,
            )

    def destroy(self, key: BuildKey) -> None:
        """Remove every container of the build attempt (build and stage ones) and its volume
        (a claimed pool container's too)."""
        client = self.client()
        labels = [f"{LABEL_BUILD}={key.build_id}", f"{LABEL_ATTEMPT}={key.attempt}"]
        if self.instance:
            labels.append(f"{LABEL_INSTANCE}={self.instance}")
        with self._api(f"remove the containers of build {key.slug}"):
            claimed = self._claimed_volume(client, key)
            for name, _ in _containers(client, {"label": labels}):
                _remove(client, name)
            if claimed is not None:
                _remove(client, container_name(key, self.instance))
                _remove_volume(client, claimed)
            _remove_volume(client, volume_name(key, self.instance))
        if self.stash is not None:
            self.stash.discard(container_name(key, self.instance))

    def keep(self, key: BuildKey) -> None:
        """Let the build container of ``key`` outlive this worker (kept for debugging):
        its dead-man's switch is turned off (:func:`ocelot.executors.deadman.keep`)."""
        client = self.client()
        name = container_name(key, self.instance)
        with self._api(f"keep {name} running"):
            container = client.containers.get(name)
            deadman.keep(client, container.id)
        self._unstash(container, name)  # it failed before its first stage: the checkout too

    def holder_labels(self) -> list[str]:
        """The labels of the containers this worker's stdin holder keeps alive."""
        labels = [f"{LABEL_WORKER}={self.worker}"]
        return labels + ([f"{LABEL_INSTANCE}={self.instance}"] if self.instance else [])

    def cleanup(self, worker: str, keep: Callable[[BuildKey], bool]) -> list[str]:
        """Remove containers and volumes labelled with ``worker`` whose key ``keep`` rejects."""
        client = self.client()
        decided: dict[BuildKey, bool] = {}

        def doomed(labels: Mapping[str, str] | None, name: str = "") -> bool:
            key = _key_from_labels(labels or {})  # None: not ours, or damaged: leave it alone
            if key is None and (labels or {}).get(warm_pool.LABEL_POOL):
                key = warm_pool.key_from_name(name, self.instance)  # a claimed pool container
            if key is not None and key not in decided:
                decided[key] = not keep(key)
            return key is not None and decided[key]

        removed: list[str] = []
        selector = {"label": [f"{LABEL_WORKER}={worker}"]}
        if self.instance:
            selector["label"].append(f"{LABEL_INSTANCE}={self.instance}")
        with self._api(f"clean up the leftovers of worker {worker}"):
            rows = client.api.containers(all=True, filters=selector)
            doomed_pool_volumes: list[str] = []
            for row in rows:
                name = (row.get("Names") or ["/" + row["Id"]])[0].lstrip("/")
                labels = row.get("Labels") or {}
                pooled = warm_pool.volume_of(labels, self.instance)
                if doomed(labels, name) or (
                    # an unclaimed pool container that is not running: its worker is gone
                    pooled
                    and warm_pool.is_unclaimed(name, self.instance)
                    and warm_pool.is_dead(row)
                ):
                    _remove(client, name)
                    removed.append(f"container {name}")
                    if pooled:
                        doomed_pool_volumes.append(pooled)
            for volume in client.volumes.list(filters=selector):
                labels = volume.attrs.get("Labels") or {}
                if doomed(labels):
                    _remove_volume(client, volume.name)
                    removed.append(f"volume {volume.name}")
                elif labels.get(warm_pool.LABEL_POOL) and volume.name not in doomed_pool_volumes:
                    doomed_pool_volumes.append(volume.name)  # if no container uses it
            for name in doomed_pool_volumes:  # after their containers (stage ones too)
                with contextlib.suppress(APIError):  # 409: in use, by a live pool container
                    _remove_volume(client, name)
                    removed.append(f"volume {name}")
        stash = self.stash if worker == self.worker else None  # the stash is this worker's
        for name in stash.containers() if stash is not None else ():
            key = warm_pool.key_from_name(name, self.instance)
            if key is None:
                continue
            if key not in decided:
                decided[key] = not keep(key)
            if decided[key] and stash is not None:
                stash.discard(name)
                removed.append(f"checkout {name}.tar")
        return removed

    def client(self) -> docker.DockerClient:
        """The docker client of this process (re-made after a fork: sockets are not shared)."""
        if self._docker is None or self._docker_pid != os.getpid():
            client = self.new_client()
            self._docker, self._docker_pid, self._host_cpus = client, os.getpid(), None
        return self._docker

    def new_client(self) -> docker.DockerClient:
        """A docker client of its own (for a thread: the stdin holder)."""
        with self._api("connect"):
            host = self.docker_host
            client = docker.DockerClient(base_url=host) if host else docker.from_env()
            client.ping()
        return client

    def fences(self, client: docker.DockerClient) -> dict[str, Any]:
        """``containers.create`` arguments that fence a build's container (module docstring)."""
        limits = self.limits
        fences: dict[str, Any] = {
            "security_opt": list(SECURITY_OPT),
            "cap_drop": list(CAP_DROP),
        }
        if limits.memory:
            fences["mem_limit"] = fences["memswap_limit"] = limits.memory
        if limits.pids:
            fences["pids_limit"] = limits.pids
        if limits.cpus:
            if self._host_cpus is None:
                with self._api("read the daemon's CPU count"):
                    self._host_cpus = int(client.info().get("NCPU") or 0)
            # docker refuses more CPUs than the host has
            cpus = min(limits.cpus, self._host_cpus) if self._host_cpus else limits.cpus
            fences["nano_cpus"] = int(cpus * 1e9)
        return fences

    @contextlib.contextmanager
    def _api(self, doing: str) -> Iterator[None]:
        """Turn docker's and requests' exceptions into :class:`ExecutorError`."""
        try:
            yield
        except APIError as exc:
            raise ExecutorError(f"docker could not {doing}: {exc.explanation or exc}") from exc
        except (DockerException, requests.RequestException) as exc:
            where = self.docker_host or os.environ.get("DOCKER_HOST") or "the default socket"
            raise ExecutorError(
                f"docker daemon unreachable at {where} (trying to {doing}): {exc}"
            ) from exc

    def workspace_volume(self, client: docker.DockerClient, key: BuildKey) -> str:
        """The workspace volume of ``key``: the build container's (a claimed pool container
        has its own), else ``volume_name(key)`` if it exists."""
        claimed = self._claimed_volume(client, key)
        if claimed is not None:
            return claimed
        name = volume_name(key, self.instance)
        try:
            client.volumes.get(name)
        except NotFound:
            raise _not_prepared(f"workspace volume {name}") from None
        return name

    def _claimed_volume(self, client: docker.DockerClient, key: BuildKey) -> str | None:
        """The pool volume of ``key``'s build container if it is a claimed pool container."""
        try:
            info = client.api.inspect_container(container_name(key, self.instance))
        except NotFound:
            return None
        return warm_pool.volume_of(info.get("Config", {}).get("Labels"), self.instance)

    def _claim(
        self, client: docker.DockerClient, key: BuildKey, image: str, found: dict[str, Any]
    ) -> Container | None:
        """The warm pool's container of ``image`` renamed for ``key``, or None (a miss)."""
        if warm_pool.pool_dir(self) is None:
            return None
        with self._api(f"claim a warm container of {image}"):
            target = container_name(key, self.instance)
            container_id = warm_pool.claim(self, client, target, image, str(found["Id"]))
        if container_id is None:
            return None
        user = (found.get("Config") or {}).get("User") or ""
        attrs = {"Id": container_id, "Config": {"User": user}}
        return client.containers.prepare_model(attrs)  # type: ignore[no-any-return]

    def pool_labels(self, token: str, image: str) -> dict[str, str]:
        """The labels of a warm pool container (and its volume)."""
        labels = {LABEL_WORKER: self.worker, warm_pool.LABEL_POOL: token}
        labels |= {LABEL_INSTANCE: self.instance} if self.instance else {}
        return labels | {warm_pool.LABEL_POOL_IMAGE: image}

    def create_container(
        self,
        client: docker.DockerClient,
        image: str,
        name: str,
        labels: dict[str, str],
        volume: str,
        env: Mapping[str, str] | None = None,
    ) -> Container:
        """Create (not start) a build container: the dead-man's switch as PID 1, the fences,
        ``volume`` at /workspace. Build, stage and warm pool containers are all made here."""
        return client.containers.create(
            image,
            entrypoint=deadman.SWITCH,  # ends when the worker holding its stdin dies
            name=name,
            labels=dict(labels),
            environment=dict(env or {}),
            volumes={volume: {"bind": WORKSPACE, "mode": "rw"}},
            working_dir=WORKSPACE,
            init=True,
            privileged=False,
            **deadman.ARMED,
            **self.fences(client),
        )

    def _labels(self, key: BuildKey, stage: str | None = None) -> dict[str, str]:
        labels = {LABEL_BUILD: str(key.build_id), LABEL_ATTEMPT: str(key.attempt)}
        labels |= {LABEL_INSTANCE: self.instance} if self.instance else {}
        return labels | {LABEL_WORKER: self.worker} | ({LABEL_STAGE: stage} if stage else {})

    def _ensure_image(
        self, client: docker.DockerClient, image: str, logins: Sequence[RegistryLogin] = ()
    ) -> dict[str, Any] | None:
        """Pull ``image`` with its registry's login if ``logins`` has one (every time, so a
        revoked login takes effect at once); else use the daemon's copy or pull anonymously.
        An image id (``sha256:...``, an image a build_image stage made) is never pulled.
        Returns the image's attributes when it was used without a login (it may be pooled),
        else None."""
        login = None if image.startswith("sha256:") else image_login(image, logins)
        if login is not None:
            self._pull_with_login(client, image, login)
            return None
        with self._api(f"look up image {image}"):
            with contextlib.suppress(ImageNotFound):
                return dict(client.images.get(image).attrs)
            try:
                return dict(client.images.pull(image).attrs)
            except (APIError, requests.RequestException) as exc:
                reason = exc.explanation if isinstance(exc, APIError) else exc
                raise ExecutorError(
                    f"image {image} not found on this worker's docker daemon, "
                    f"and pulling it failed: {reason}"
                ) from exc

    def _pull_with_login(
        self, client: docker.DockerClient, image: str, login: RegistryLogin
    ) -> None:
        """Pull ``image`` with ``login``, given to the daemon with this request, stored nowhere."""
        auth = {
            "username": login.username,
            "password": login.password,
            "serveraddress": login.registry,
        }
        with self._api(f"pull {image}"):
            try:
                client.images.pull(image, auth_config=auth)
            except APIError as exc:
                raise ExecutorError(
                    f"pulling {image} from {login.registry} as {login.username!r} failed: "
                    f"{exc.explanation or exc.status_code}"
                ) from None

    def _put_home_files(self, container: Container, files: Mapping[str, HomeFile]) -> None:
        """Stream ``files`` from memory into ``$HOME`` of ``container``, owned by its user."""
        try:
            code, out = container.exec_run(["sh", "-c", _WHO_AND_WHERE])
            parts = out.decode(errors="replace").splitlines() if code == 0 else []
            if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
                raise ExecutorError("cannot find the home directory of the build container's user")
            home, uid, gid = parts[0], int(parts[1]), int(parts[2])
            if not container.put_archive("/", home_archive(home, files, uid, gid)):
                raise ExecutorError("docker refused the credentials files for the build container")
        except (DockerException, requests.RequestException) as exc:
            raise ExecutorError(
                f"could not put credentials files into the build container: {type(exc).__name__}"
            ) from None

    def _start(
        self,
        client: docker.DockerClient,
        image: str,
        name: str,
        key: BuildKey,
        *,
        env: Mapping[str, str] | None = None,
        stage: str | None = None,
        volume: str | None = None,
    ) -> Container:
        volume = volume or volume_name(key, self.instance)
        labels = self._labels(key, stage)
        container = self.create_container(client, image, name, labels, volume, env)
        # held before it starts: a worker that dies at any moment takes it along (deadman)
        deadman.request_hold(self.hold_address, container.id, name)
        container.start()
        return container

    @contextlib.contextmanager
    def _stage_container(
        self,
        client: docker.DockerClient,
        key: BuildKey,
        stage: str,
        image: str | None,
        logins: Sequence[RegistryLogin] = (),
        *,
        unpack: bool = True,
    ) -> Iterator[Container]:
        """The build container, or a fresh container of ``image`` removed after the stage.
        Either way the stashed checkout is unpacked first, unless ``unpack`` is False (the
        caller sends it with the build container's first stage)."""
        if image is None:
            container = self._build_container(client, key)
            if unpack:
                self._unstash(container, container_name(key, self.instance))
            yield container
            return
        build_name = container_name(key, self.instance)
        if self.stash is not None and self.stash.get(build_name):
            self._unstash(self._build_container(client, key), build_name)  # the volume it mounts
        self._ensure_image(client, image, logins)
        name = stage_container_name(key, stage, self.instance)
        with self._api(f"start a container from {image} for stage {stage!r}"):
            volume = self.workspace_volume(client, key)
            _remove(client, name)  # left by an earlier try of this very stage
            container = self._start(client, image, name, key, stage=stage, volume=volume)
        try:
            yield container
        finally:
            with contextlib.suppress(DockerException, requests.RequestException):
                container.remove(force=True)

    def _build_container(self, client: docker.DockerClient, key: BuildKey) -> Container:
        """The running build container of ``key`` (ExecutorError if missing or stopped)."""
        name = container_name(key, self.instance)
        with self._api(f"find build container {name}"):
            try:
                container = client.containers.get(name)
            except NotFound:
                raise _not_prepared(f"build container {name}") from None
        if container.status != "running":
            raise ExecutorError(f"build container {name} is {container.status}, not running")
        return container

    def _unstash(self, container: Container, name: str) -> None:
        """Copy the stashed checkout of ``container`` in with ``put_archive``, if any (its
        first user is not a stage's exec in it, or the image has no ``tar``)."""
        stashed = self.stash.get(name) if self.stash is not None else None
        if stashed is None:
            return
        with self._api(f"copy the checkout into {WORKSPACE}"), open(stashed, "rb") as fh:
            container.put_archive("/", fh)
        assert self.stash is not None
        self.stash.discard(name)

    def _user_ids(self, container: Container) -> tuple[int, int]:
        """Numeric uid and gid of the container's default user (root unless the image says)."""
        user = (container.attrs.get("Config", {}).get("User") or "").strip()
        if user in ("", "root", "0", "0:0"):
            return 0, 0
        with self._api("find the container's user"):
            code, out = container.exec_run(["sh", "-c", "id -u && id -g"])
        ids = out.split() if code == 0 else []
        if len(ids) != 2 or not all(i.isdigit() for i in ids):
            raise ExecutorError(f"cannot tell the uid of user {user!r} in the build container")
        return int(ids[0]), int(ids[1])

    def _copy_in(self, container: Container, checkout: Path, uid: int, gid: int) -> None:
        # The archive holds /workspace itself (extracted at "/"), so the daemon gives the
        # volume's root directory to the container's user too: no exec as root is needed
        # (with no-new-privileges, an exec as root in a non-root container has no capabilities).
        with tempfile.TemporaryFile(prefix="ocelot-checkout-") as buf:
            docker_unpack.write_checkout(checkout, buf, uid, gid)
            buf.seek(0)
            with self._api(f"copy the checkout into {WORKSPACE}"):
                container.put_archive("/", buf)


def _containers(
    client: docker.DockerClient, filters: Mapping[str, Any]
) -> list[tuple[str, dict[str, str]]]:
    """``(name, labels)`` of the containers matching ``filters``, from one list call:
    ``containers.list`` inspects each one afterwards and fails if one is removed meanwhile
    (by a concurrent clean-up), which is normal here."""
    return [
        ((c.get("Names") or ["/" + c["Id"]])[0].lstrip("/"), c.get("Labels") or {})
        for c in client.api.containers(all=True, filters=dict(filters))
    ]


def _remove(client: docker.DockerClient, name: str) -> None:
    """Force-remove a container; gone or already being removed is fine."""
    try:
        client.api.remove_container(name, force=True)
    except APIError as exc:
        if exc.status_code not in (404, 409):  # 409: removal already in progress
            raise


def _remove_volume(client: docker.DockerClient, name: str) -> None:
    with contextlib.suppress(NotFound):
        client.api.remove_volume(name, force=True)


def _not_prepared(what: str) -> ExecutorError:
    return ExecutorError(f"{what} not found; was the build prepared on this worker?")


def _key_from_labels(labels: Mapping[str, str]) -> BuildKey | None:
    try:
        return BuildKey(int(labels[LABEL_BUILD]), int(labels[LABEL_ATTEMPT]))
    except (KeyError, ValueError):
        return None
