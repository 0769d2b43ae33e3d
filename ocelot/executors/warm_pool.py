"""The warm pool: fresh, never-used build containers a Docker worker keeps ready.

Creating and starting a build container (with its volume) is most of what ``prepare`` costs
(~250 ms of the ~300 ms). A Docker worker therefore keeps up to ``OCELOT_WARM_CONTAINERS``
(default 2; 0 turns the pool off) started containers for the images its builds used in the
last :data:`RECENT_SECONDS`, and ``prepare`` claims one instead of making one: the first stage
then runs with a single ``docker exec``, which also brings the checkout in
(:mod:`ocelot.executors.docker_unpack`).

A pool container is made exactly as a build container (``DockerExecutor.fences``: limits,
``cap_drop``, ``no-new-privileges``, ``init``, no socket; the dead-man's switch as PID 1; its
own workspace volume) with no environment (``prepare`` passes none: a build's variables go
with each exec). It is labelled ``ocelot.worker`` (and ``ocelot.instance``), so the worker's
stdin holder holds it and it dies with the worker, plus :data:`LABEL_POOL` (a token naming
its volume, :func:`pool_volume`) and :data:`LABEL_POOL_IMAGE`. Its name starts with
:func:`pool_prefix`.

**Claiming** (:func:`claim`, in whichever prefork process runs ``prepare``) renames the
container from its pool name to the build container's name (``container_name(key)``), so every
process finds it again by :class:`BuildKey` as any build container (destroy, stages, recovery,
kept containers, the janitors), and its volume from its ``ocelot.pool`` label. A claimed
container no longer has a pool name, so it is never claimed again, and after the build it is
removed like any other: a container is never reused. Docker's rename is not atomic against a
concurrent rename of the same container (the daemon looks the container up, then locks it, and
renames whatever name it has by then), so claimers take an exclusive ``flock`` on a file of
this worker under ``OCELOT_HOME`` around "list the pool, rename one": one claim at a time per
worker, ~10 ms. Only images used without a registry login are pooled (such an image is pulled
with its login on every use, :meth:`DockerExecutor._ensure_image`), and a container is claimed
only if it was made from the image id the tag names *now* (a build may have re-tagged it).

**Refilling** is a thread of the worker's main process (:class:`Filler`), not a task: it must
run while every slot of the stage pool is busy (a task on the worker's own queue would wait
behind the builds it should be ahead of), it costs no Celery hop, and the main process is the
one that holds the containers' stdin, so a new pool container is held from the moment it
starts. Claimers touch a file per image (:func:`note_use`; on a miss, :func:`missed` does it
once the build's own container runs, so the first build of an image does not share the daemon
with the pool's first containers): that is how the pool learns which images to keep. The
filler looks at those files every :data:`TICK_SECONDS` and at the daemon when one changed (or
every :data:`SWEEP_SECONDS`), retires pool containers that are dead, too old
(:data:`MAX_AGE_SECONDS`), of an image no longer recent or re-tagged, or beyond the target,
and creates the missing ones, never letting this worker's containers
(build, stage and pool) exceed ``OCELOT_MAX_BUILDS + OCELOT_WARM_CONTAINERS``.

**Leaving nothing behind**: the filler removes the previous boot's pool containers (and
forgets its images: the first build of an image after a restart makes its own container) when
it starts and its own when the worker shuts down (:meth:`Filler.stop`); a worker killed outright
loses its stdin holder, so its pool containers exit, and ``cleanup`` (worker start, the
periodic janitor) and :func:`ocelot.executors.janitor.prune` remove pool containers that are
not running, with their volumes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from ocelot.executors.base import BuildKey
from ocelot.executors.deadman import StdinHolder

log = logging.getLogger(__name__)

LABEL_POOL = "ocelot.pool"  # the pool token: names the container's volume
LABEL_POOL_IMAGE = "ocelot.pool.image"  # the image name the container was made for
RECENT_SECONDS = 3600.0  # an image used within this is kept warm
MAX_AGE_SECONDS = 3600.0  # a pool container older than this is replaced
TICK_SECONDS = 0.05
SWEEP_SECONDS = 2.0
DEAD_AFTER_SECONDS = 30.0  # a pool container not running after this is removed (janitors)


class PoolOwner(Protocol):
    """What the pool needs of its executor (:class:`ocelot.executors.docker.DockerExecutor`,
    which imports this module)."""

    worker: str
    instance: str
    warm: int
    pool_root: Path | None

    def holder_labels(self) -> list[str]: ...

    def new_client(self) -> docker.DockerClient: ...

    def pool_labels(self, token: str, image: str) -> dict[str, str]: ...

    def create_container(
        self,
        client: docker.DockerClient,
        image: str,
        name: str,
        labels: dict[str, str],
        volume: str,
    ) -> Container: ...


def _ns(instance: str) -> str:
    return f"{instance}-" if instance else ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text)[:60]


def pool_prefix(instance: str, worker: str) -> str:
    """The name every unclaimed pool container of ``worker`` starts with."""
    return f"ocelot-{_ns(instance)}pool-{_slug(worker)}-"


def pool_volume(instance: str, token: str) -> str:
    """The workspace volume of the pool container labelled ``ocelot.pool=<token>``."""
    return f"ocelot-ws-{_ns(instance)}pool-{token}"


def is_unclaimed(name: str, instance: str) -> bool:
    return name.lstrip("/").startswith(f"ocelot-{_ns(instance)}pool-")


def key_from_name(name: str, instance: str) -> BuildKey | None:
    """The build a claimed pool container (named ``container_name(key)``) belongs to."""
    found = re.fullmatch(rf"ocelot-{re.escape(_ns(instance))}(\d+)-(\d+)", name.lstrip("/"))
    return BuildKey(int(found[1]), int(found[2])) if found else None


def pool_dir(executor: PoolOwner) -> Path | None:
    """This worker's directory of pool state (claim lock, images in use); None: no pool."""
    if not executor.warm or executor.pool_root is None:
        return None
    return executor.pool_root / _slug(f"{_ns(executor.instance)}{executor.worker}")


@contextlib.contextmanager
def claim_lock(directory: Path) -> Iterator[None]:
    """One claim (or retirement) at a time among this worker's processes."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".claim.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def note_use(directory: Path, image: str) -> None:
    """Record that a build of this worker used ``image`` now (the filler keeps it warm)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"image-{hashlib.sha256(image.encode()).hexdigest()[:20]}"
    try:
        os.utime(path)
    except FileNotFoundError:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(image)
        os.replace(tmp, path)


def recent_images(directory: Path, now: float | None = None) -> list[str]:
    """Images used within :data:`RECENT_SECONDS`, most recent first."""
    now = time.time() if now is None else now
    found: list[tuple[float, str]] = []
    with contextlib.suppress(FileNotFoundError):
        for path in directory.glob("image-*"):
            if path.suffix == ".tmp":
                continue
            with contextlib.suppress(OSError):
                when = path.stat().st_mtime
                if now - when <= RECENT_SECONDS:
                    found.append((when, path.read_text()))
    return [image for _, image in sorted(found, reverse=True)]


def _selector(executor: PoolOwner) -> list[str]:
    """The labels of every container of this worker (those its stdin holder holds)."""
    return executor.holder_labels()


def claim(
    executor: PoolOwner,
    client: docker.DockerClient,
    target: str,
    image: str,
    image_id: str,
) -> str | None:
    """Rename a running pool container of ``image`` (made from ``image_id``) to ``target``
    (the build container's name); return its id, or None when the pool has none."""
    directory = pool_dir(executor)
    if directory is None:
        return None
    prefix = "/" + pool_prefix(executor.instance, executor.worker)
    filters = {
        "label": [*_selector(executor), f"{LABEL_POOL_IMAGE}={image}"],
        "status": "running",
    }
    with claim_lock(directory):
        rows = client.api.containers(filters=filters)
        for row in sorted(rows, key=lambda r: r.get("Created", 0)):
            name = (row.get("Names") or [""])[0]
            if not name.startswith(prefix) or row.get("ImageID") != image_id:
                continue
            try:
                client.api.rename(name.lstrip("/"), target)
            except NotFound:  # removed meanwhile (the janitor, a retirement)
                continue
            note_use(directory, image)
            return str(row["Id"])
    return None


def missed(executor: PoolOwner, image: str) -> None:
    """A build of ``image`` found no warm container and has started its own: from now on
    the pool keeps ``image`` warm. Noted only once that container runs, so the pool's first
    containers are not made on the same daemon at the same moment as the build's own."""
    directory = pool_dir(executor)
    if directory is not None:
        note_use(directory, image)


def volume_of(labels: dict[str, str] | None, instance: str) -> str | None:
    """The pool volume of a (claimed or unclaimed) pool container, from its labels."""
    token = (labels or {}).get(LABEL_POOL)
    return pool_volume(instance, token) if token else None


def remove_container(client: docker.DockerClient, name: str, volume: str | None) -> None:
    """Force-remove a pool container, then its volume; gone already is fine. A container
    no longer under ``name`` (claimed meanwhile) keeps its volume."""
    try:
        client.api.remove_container(name, force=True)
    except APIError as exc:
        if exc.status_code == 404:
            return
        if exc.status_code != 409:
            raise
    if volume:
        with contextlib.suppress(NotFound):
            client.api.remove_volume(volume, force=True)


def _age(row: dict[str, Any]) -> float:
    return time.time() - float(row.get("Created") or 0)


def is_dead(row: dict[str, Any]) -> bool:
    """A pool container (a row of the container list) that will never run again: exited,
    or created and never started for :data:`DEAD_AFTER_SECONDS` (its maker died)."""
    state = row.get("State")
    return state in ("exited", "dead") or (state == "created" and _age(row) > DEAD_AFTER_SECONDS)


class Filler:
    """The main process's thread that keeps the pool filled (module docstring)."""

    def __init__(
        self,
        executor: PoolOwner,
        max_builds: int,
        holder: StdinHolder | None = None,
    ) -> None:
        directory = pool_dir(executor)
        assert directory is not None, "the pool is off"
        self.executor = executor
        self.directory = directory
        self.target = executor.warm
        self.cap = max(1, max_builds) + executor.warm
        self.holder = holder
        self._client: docker.DockerClient | None = None
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ocelot-warm-pool", daemon=True)
        self._stamp: dict[str, float] = {}

    def start(self) -> None:
        """Forget the images of an earlier boot (the pool relearns them from this boot's
        builds), remove its pool containers if any survived, and start refilling."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in self.directory.glob("image-*"):
            path.unlink(missing_ok=True)
        try:
            self.clear()  # a previous boot's pool, if it survived
        except Exception:  # the daemon away: the janitors get them
            log.exception("warm pool: could not remove the previous pool")
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop refilling and remove every unclaimed pool container of this worker."""
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        try:
            self.clear()
        except Exception:
            log.exception("warm pool: could not remove the pool on shutdown")

    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = self.executor.new_client()
        return self._client

    def pool(self) -> list[dict[str, Any]]:
        """This worker's unclaimed pool containers (every state)."""
        rows = self.client().api.containers(
            all=True, filters={"label": [*_selector(self.executor), LABEL_POOL]}
        )
        prefix = "/" + pool_prefix(self.executor.instance, self.executor.worker)
        return [r for r in rows if (r.get("Names") or [""])[0].startswith(prefix)]

    def clear(self) -> list[str]:
        """Remove every unclaimed pool container of this worker (and its volume)."""
        client, removed = self.client(), []
        with claim_lock(self.directory):
            for row in self.pool():
                name = row["Names"][0].lstrip("/")
                remove_container(client, name, volume_of(row.get("Labels"), self.executor.instance))
                removed.append(name)
        return removed

    def _changed(self) -> bool:
        stamps: dict[str, float] = {}
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.directory):
                if entry.name.startswith("image-"):
                    with contextlib.suppress(OSError):
                        stamps[entry.name] = entry.stat().st_mtime
        changed, self._stamp = stamps != self._stamp, stamps
        return changed

    def _run(self) -> None:
        last = 0.0
        while not self._halt.wait(TICK_SECONDS):
            now = time.monotonic()
            if not self._changed() and now - last < SWEEP_SECONDS:
                continue
            last = now
            try:
                self.refill()
            except Exception:  # the daemon restarting: the next sweep tries again
                log.exception("warm pool: refill failed")
                self._client = None

    def targets(self) -> dict[str, int]:
        """How many warm containers each recent image should have (the newest first)."""
        images = recent_images(self.directory)
        wanted = {image: 0 for image in images}
        for slot in range(self.target if images else 0):
            wanted[images[slot % len(images)]] += 1
        return {image: n for image, n in wanted.items() if n}

    def refill(self) -> int:
        """Retire what should go, then create what is missing; return how many were made."""
        client = self.client()
        targets = self.targets()
        ids: dict[str, str | None] = {}
        for image in targets:
            try:
                ids[image] = client.images.get(image).id
            except ImageNotFound:  # never pulled here by the pool: the build pulls it
                ids[image] = None
        keep: dict[str, int] = {}
        doomed: list[dict[str, Any]] = []
        for row in sorted(self.pool(), key=lambda r: r.get("Created", 0), reverse=True):
            image = (row.get("Labels") or {}).get(LABEL_POOL_IMAGE, "")
            alive = row.get("State") == "running"
            fresh = _age(row) < MAX_AGE_SECONDS and row.get("ImageID") == ids.get(image)
            if row.get("State") == "created" and _age(row) < DEAD_AFTER_SECONDS:
                keep[image] = keep.get(image, 0) + 1  # being started (by this thread)
            elif alive and fresh and keep.get(image, 0) < targets.get(image, 0):
                keep[image] = keep.get(image, 0) + 1
            else:
                doomed.append(row)
        if doomed:
            with claim_lock(self.directory):
                for row in doomed:
                    name = row["Names"][0].lstrip("/")
                    volume = volume_of(row.get("Labels"), self.executor.instance)
                    with contextlib.suppress(DockerException, requests.RequestException):
                        remove_container(client, name, volume)
        total = len(client.api.containers(all=True, filters={"label": _selector(self.executor)}))
        made = 0
        for image, want in targets.items():
            image_id = ids.get(image)
            while image_id and keep.get(image, 0) < want and total < self.cap:
                if self._halt.is_set():
                    return made
                self.make(image)
                keep[image] = keep.get(image, 0) + 1
                total += 1
                made += 1
        return made

    def make(self, image: str) -> str:
        """Create one pool container of ``image`` with its volume, hold its stdin, start it.

        The holder attaches *before* the start (as ``docker run`` does), so there is no
        moment when the container runs and this worker's death would not stop it."""
        executor, client = self.executor, self.client()
        token = uuid.uuid4().hex[:16]
        name = pool_prefix(executor.instance, executor.worker) + token
        labels = executor.pool_labels(token, image)
        volume = pool_volume(executor.instance, token)
        try:
            client.volumes.create(name=volume, labels=labels)
            container = executor.create_container(client, image, name, labels, volume)
            if self.holder is not None:
                self.holder.hold_now(container.id, name)
            container.start()
        except BaseException:
            with contextlib.suppress(DockerException, requests.RequestException):
                remove_container(client, name, volume)
            raise
        log.info("warm pool: started %s (%s)", name, image)
        return str(container.id)


_filler: Filler | None = None


def start(executor: PoolOwner, max_builds: int, holder: StdinHolder | None) -> Filler | None:
    """Start this (main) process's filler, once; None when the pool is off."""
    global _filler
    if _filler is None and pool_dir(executor) is not None:
        _filler = Filler(executor, max_builds, holder)
        _filler.start()
        log.info("warm pool: keeping %s container(s) warm", executor.warm)
    return _filler


def stop() -> None:
    """Stop the filler and remove its pool (worker shutdown). Never raises."""
    global _filler
    filler, _filler = _filler, None
    if filler is not None:
        filler.stop()
