"""What every pipeline step needs: settings, the DB engine, Redis and the executor; and what
the steps announce (a build started or ended) for the worker to dispatch."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis as redis_lib
from sqlalchemy.engine import Engine

from ocelot.executors.base import Executor
from ocelot.settings import Settings
from ocelot.status import FINISHED, BuildStatus


@dataclass(frozen=True)
class Announcement:
    """A build's status change that people and forges should hear of: recorded by a runner
    step right after it committed the change, dispatched by whoever ran the step."""

    build_id: int
    status: BuildStatus

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass
class RunContext:
    settings: Settings
    engine: Engine
    # None: log chunks and "end" are stored but not published (tests, tools)
    redis: redis_lib.Redis | None = None
    _executor: Executor | None = field(default=None, repr=False)
    # What the steps run with this context announced (build_started / build_finished), in
    # order, until the worker takes them to dispatch (worker/signals.py: when the task ends).
    announcements: list[Announcement] = field(default_factory=list, repr=False)
    # Builds a step made ready to go on (another pipeline's build of the event: route; a
    # dependent whose upstream passed: prepare on its queue), published like announcements.
    wakeups: list[tuple[int, str | None]] = field(default_factory=list, repr=False)

    @property
    def instance(self) -> str:
        """The installation id (``OCELOT_INSTANCE``, else the one stored in the database)."""
        from ocelot.installation import instance_id
        from ocelot.retrying import outage_budget, retry_db

        # read once per process, maybe first in a step that runs while the database restarts
        return retry_db(
            lambda: instance_id(self.settings, self.engine),
            what="reading the installation id",
            budget=outage_budget(self.settings),
        )

    @property
    def executor(self) -> Executor:
        """The executor of this worker, created on first use (a Docker client per process)."""
        if self._executor is None:
            from ocelot.executors import make_executor

            self._executor = make_executor(self.settings, instance=self.instance)
        return self._executor

    def build_started(self, build_id: int) -> None:
        """Record that a worker claimed the build (forge status "pending", PR comment)."""
        self.announcements.append(Announcement(build_id, BuildStatus.RUNNING))

    def build_finished(self, build_id: int, status: str) -> None:
        """Record that the build's final ``status`` is committed (notices, forge reports).
        Call it right after that commit, and again on a redelivered step: dispatching is
        idempotent, announcing too few times is not."""
        self.announcements.append(Announcement(build_id, BuildStatus(status)))

    def wake(self, build_id: int, queue: str | None = None) -> None:
        """Record that a committed QUEUED build should be published: to ``route`` (queue
        None) or to ``prepare`` on ``queue`` (see :mod:`ocelot.runner.pipelines`)."""
        self.wakeups.append((build_id, queue))

    def take_wakeups(self) -> list[tuple[int, str | None]]:
        """The recorded wake-ups, oldest first, each once."""
        taken, self.wakeups = self.wakeups, []
        return taken

    def take_announcements(self) -> list[Announcement]:
        """The recorded announcements, oldest first, each once; the list starts again empty."""
        taken, self.announcements = self.announcements, []
        return taken
