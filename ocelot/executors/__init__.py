"""Execution backends: where and how a worker runs a build's stages.

The contract is :class:`ocelot.executors.base.Executor` (lifecycle, concurrency and errors are
documented there). :func:`make_executor` picks the backend named by
``settings.worker_executor``: ``"docker"`` (:mod:`ocelot.executors.docker`) or ``"local"``
(:mod:`ocelot.executors.local`, which isolates nothing).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ocelot.errors import ExecutorError
from ocelot.executors.base import (
    BuildKey,
    Executor,
    HomeFile,
    ImageOutcome,
    ImageRequest,
    OutputCallback,
    RegistryLogin,
    ResourceLimits,
    StageOutcome,
    StopCheck,
)

if TYPE_CHECKING:
    from ocelot.settings import Settings

__all__ = [
    "BuildKey",
    "Executor",
    "HomeFile",
    "ImageOutcome",
    "ImageRequest",
    "OutputCallback",
    "RegistryLogin",
    "ResourceLimits",
    "StageOutcome",
    "StopCheck",
    "limits_from",
    "make_executor",
]


def limits_from(settings: Settings) -> ResourceLimits:
    """The ``OCELOT_BUILD_MEMORY``/``_CPUS``/``_PIDS`` fences (0 in settings: no limit)."""
    return ResourceLimits(
        memory=settings.build_memory or None,
        cpus=settings.build_cpus or None,
        pids=settings.build_pids or None,
    )


def make_executor(settings: Settings, instance: str | None = None) -> Executor:
    """The executor this worker is configured for. Creating one does not contact docker.
    ``instance``: the installation id (:func:`ocelot.installation.instance_id`; default
    ``settings.instance``, i.e. ``OCELOT_INSTANCE``), which names and labels containers."""
    if settings.worker_executor == "docker":
        from ocelot.executors.docker import DockerExecutor

        return DockerExecutor(
            settings.worker_name,
            docker_host=settings.docker_host,
            instance=settings.instance if instance is None else instance,
            limits=limits_from(settings),
            warm=settings.warm_containers,
            pool_root=settings.home / "warm-pool",
            stash_root=settings.home / "checkouts" / re.sub(r"[^\w.-]+", "-", settings.worker_name),
        )
    if settings.worker_executor == "local":
        from ocelot.executors.local import LocalExecutor

        return LocalExecutor(
            settings.workspaces, settings.worker_name, limits=limits_from(settings)
        )
    raise ExecutorError(f"unknown executor {settings.worker_executor!r} (docker or local)")
