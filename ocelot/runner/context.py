"""What every pipeline step needs: settings, the DB engine, Redis and the executor."""

from __future__ import annotations

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

    @property
    def executor(self) -> Any:
        """The executor of this worker, created on first use (a Docker client per process)."""
        if self._executor is None:
            from ocelot.executors import make_executor

            self._executor = make_executor(self.settings)
        return self._executor
