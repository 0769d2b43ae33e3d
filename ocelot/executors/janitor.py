"""The periodic janitor for Docker: what crashes, kept debug containers and image churn leave.

:func:`prune` removes every Ocelot-labelled container (any worker's) that is older than the
age limit and whose build attempt the caller does not spare (running, or kept for debugging
and younger than ``OCELOT_JANITOR_AGE``: :func:`ocelot.runner.leftovers.spared`), with its
workspace volume, then dangling images older than the same age. Returns what it removed and
the space Docker reports as freed. Warm pool containers (:mod:`ocelot.executors.warm_pool`)
count as their build's once claimed (the build is in their name); an unclaimed one is removed
when it is not running (its worker died, the dead-man's switch fired), with its volume.

:func:`kept_name` says how a person reaches what ``finish`` kept of a failed build
(``OCELOT_KEEP_CONTAINERS``): the build container's name for ``docker exec``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import docker
from docker.errors import APIError, NotFound

from ocelot.executors import warm_pool
from ocelot.executors.base import BuildKey, Executor
from ocelot.executors.docker import (
    LABEL_ATTEMPT,
    LABEL_BUILD,
    LABEL_INSTANCE,
    container_name,
    volume_name,
)


@dataclass
class Freed:
    removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0

    def summary(self) -> str:
        if not self.removed:
            return "nothing to remove"
        return f"removed {', '.join(self.removed)}; {self.bytes_freed / 1e6:.1f} MB freed"


def _created(attrs: dict) -> datetime:  # type: ignore[type-arg]
    stamp = attrs.get("Created", "")
    # Docker gives nanoseconds ("2026-11-28T03:52:54.123456789Z"); Python parses microseconds.
    base, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{base}.{(frac or '0')[:6]}+00:00")


def kept_name(executor: Executor, key: BuildKey) -> str:
    """What a person opens to look into the kept environment of ``key``: the build
    container's name (docker: ``docker exec -it <name> sh``), the workspace directory on the
    worker host (local), else ``<executor>:<build>-<attempt>``."""
    if executor.name == "docker":
        return container_name(key, getattr(executor, "instance", ""))
    workspace = getattr(executor, "workspace", None)
    if executor.name == "local" and callable(workspace):
        return str(workspace(key))
    return f"{executor.name}:{key.slug}"


def prune(
    client: docker.DockerClient,
    spare: Callable[[BuildKey], bool],
    older_than: timedelta,
    instance: str = "",
) -> Freed:
    """Remove old leftovers of this installation (``instance``) whose attempt ``spare``
    does not keep (a running attempt, a kept one younger than the age limit)."""
    freed = Freed()
    cutoff = datetime.now(UTC) - older_than
    selector = [LABEL_BUILD] + ([f"{LABEL_INSTANCE}={instance}"] if instance else [])
    for container in client.containers.list(all=True, filters={"label": selector}):
        labels = container.labels or {}
        try:
            key = BuildKey(int(labels[LABEL_BUILD]), int(labels[LABEL_ATTEMPT]))
        except (KeyError, ValueError):
            continue
        if spare(key) or _created(container.attrs) > cutoff:
            continue
        with contextlib.suppress(NotFound):
            container.remove(force=True, v=True)
            freed.removed.append(f"container {container.name}")
        with contextlib.suppress(NotFound, APIError):  # in use by another container: later
            client.api.remove_volume(volume_name(key, instance))
            freed.removed.append(f"volume {volume_name(key, instance)}")
    _prune_pool(client, spare, cutoff, instance, freed)
    hours = max(1, int(older_than.total_seconds() // 3600))
    result = client.images.prune(filters={"dangling": True, "until": f"{hours}h"})
    for image in result.get("ImagesDeleted") or []:
        freed.removed.append(f"image {(image.get('Deleted') or image.get('Untagged'))[:19]}")
    freed.bytes_freed += int(result.get("SpaceReclaimed") or 0)
    return freed


def _prune_pool(
    client: docker.DockerClient,
    spare: Callable[[BuildKey], bool],
    cutoff: datetime,
    instance: str,
    freed: Freed,
) -> None:
    """Warm pool containers of this installation (any worker's): a claimed one as its build
    container; an unclaimed one once it is not running, or running far past its age."""
    selector = [warm_pool.LABEL_POOL] + ([f"{LABEL_INSTANCE}={instance}"] if instance else [])
    stale_before = datetime.now(UTC) - timedelta(seconds=2 * warm_pool.MAX_AGE_SECONDS)
    for row in client.api.containers(all=True, filters={"label": selector}):
        name = (row.get("Names") or ["/" + row["Id"]])[0].lstrip("/")
        created = datetime.fromtimestamp(float(row.get("Created") or 0), UTC)
        key = warm_pool.key_from_name(name, instance)
        if key is not None:
            if spare(key) or created > cutoff:
                continue
        elif not warm_pool.is_unclaimed(name, instance):
            continue
        elif not warm_pool.is_dead(row) and (
            row.get("State") != "running" or created > min(cutoff, stale_before)
        ):
            continue  # its worker holds it (the filler replaces it after an hour)
        volume = warm_pool.volume_of(row.get("Labels"), instance)
        with contextlib.suppress(NotFound, APIError):
            warm_pool.remove_container(client, name, volume)
            freed.removed.append(f"container {name}")
            if volume:
                freed.removed.append(f"volume {volume}")
