"""What every pipeline step needs: settings, the DB engine, Redis and the executor."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from ocelot.settings import Settings


@dataclass
class RunContext:
    settings: Settings
    engine: Engine
    redis: Any = None
    _executor: Any = field(default=None, repr=False)
    # Called as hook(build_id, status) after a build's final status is committed (the worker
    # registers "enqueue notifications"); hooks must be quick and never fail the build.
    on_finished: list[Callable[[int, str], None]] = field(default_factory=list, repr=False)
    # Called as hook(build_id, "RUNNING") once a worker claimed the build (forge status
    # "pending", PR comment); same rules as on_finished.
    on_started: list[Callable[[int, str], None]] = field(default_factory=list, repr=False)

    @property
    def executor(self) -> Any:
        """The executor of this worker, created on first use (a Docker client per process)."""
        if self._executor is None:
            from ocelot.executors import make_executor

            self._executor = make_executor(self.settings)
        return self._executor

    def build_started(self, build_id: int) -> None:
        """Run the ``on_started`` hooks; a failing hook is logged, never raised."""
        for hook in self.on_started:
            try:
                hook(build_id, "RUNNING")
            except Exception:
                logging.getLogger(__name__).exception(
                    "on_started hook failed for build %s", build_id
                )

    def build_finished(self, build_id: int, status: str) -> None:
        """Run the ``on_finished`` hooks; a failing hook is logged, never raised."""
        for hook in self.on_finished:
            try:
                hook(build_id, status)
            except Exception:
                logging.getLogger(__name__).exception(
                    "on_finished hook failed for build %s", build_id
                )
