"""The runner's fast tier: its steps called directly, against a real database (SQLite and
PostgreSQL, from the ``db_url`` fixture), a real Redis and real git repositories, with
:class:`~tests.fakes.executor.ScriptedExecutor` where a worker would have Docker.

:class:`Runner` plays the worker: ``drive`` is what the Celery chain does (route → prepare →
one task per stage → finish), and the single steps are there to stop half-way, run a stage
in a thread, kill, or lose the worker. Stage scripts are the scripted executor's language
(``echo``, ``sleep``, ``exit``, ``fail-first``, ... see tests/fakes/executor.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis as redis_lib
import yaml
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.logstream import read_text
from ocelot.models import Build, Repo, Stage, utcnow
from ocelot.runner import RunContext, finish, prepare, route, run_stage
from ocelot.services.builds import create_build
from ocelot.services.repos import add_repo
from ocelot.settings import Settings
from tests.fakes.executor import ScriptedExecutor
from tests.stack import make_repo


def stage(name: str, *script: str, **options: Any) -> dict[str, Any]:
    """One stage of an ocelot.yml: ``stage("test", "echo hi", retry=2)``."""
    return {"name": name, **options, "script": list(script)}


def ocelot_yml(*stages: dict[str, Any], **top: Any) -> str:
    """A valid ocelot.yml (image ocelot/busybox, every branch) with ``stages``."""
    config = {"image": "ocelot/busybox", "buildTool": "shell", "branches": ["ALL"], **top}
    return yaml.safe_dump({**config, "stages": list(stages)}, sort_keys=False)


@dataclass
class Runner:
    settings: Settings
    engine: Engine
    redis: redis_lib.Redis
    root: Path
    executor: ScriptedExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.executor = ScriptedExecutor(worker=self.settings.worker_name)
        self.ctx = self._context()

    def _context(self) -> RunContext:
        return RunContext(
            settings=self.settings, engine=self.engine, redis=self.redis, _executor=self.executor
        )

    def configure(self, **changes: Any) -> None:
        """Other settings from now on (``keep_containers=True``, ``lease_seconds=1`` ...)."""
        announced = self.ctx.announcements
        self.settings = self.settings.with_(**changes)
        self.ctx = self._context()
        self.ctx.announcements = announced

    @property
    def started(self) -> list[int]:
        """Builds the steps announced as claimed (forge "pending"), in order."""
        return [a.build_id for a in self.ctx.announcements if not a.finished]

    @property
    def finished(self) -> list[tuple[int, str]]:
        """``(build, final status)`` the steps announced, in order."""
        return [(a.build_id, a.status) for a in self.ctx.announcements if a.finished]

    # -- repositories and builds ----------------------------------------------------------

    def repo(
        self,
        text: str | None,
        name: str = "acme/app",
        branch: str = "master",
        files: dict[str, str] | None = None,
        message: str = "work",
    ) -> str:
        """Commit ``text`` as ocelot.yml (None: no ocelot.yml) and ``files`` to a real git
        repository; track it as ``name`` the first time. Returns the commit."""
        path = self.root / "repos" / name
        content = {**(files or {}), **({"ocelot.yml": text} if text is not None else {})}
        sha = make_repo(path, content or {"README": message}, branch=branch, message=message)
        with session_scope(self.engine) as session:
            if session.scalar(select(Repo.id).where(Repo.full_name == name)) is None:
                add_repo(session, name, str(path))
        return sha

    def queue(self, name: str = "acme/app", branch: str | None = "master", **kw: Any) -> int:
        with session_scope(self.engine) as session:
            return create_build(session, name, branch=branch, **kw).id

    # -- the steps ----------------------------------------------------------------------------

    def route(self, build_id: int) -> str | None:
        return route(self.ctx, build_id)

    def prepare(self, build_id: int) -> tuple[int, list[int]]:
        """route's queue is known; claim and set up. Fails unless the build is ready to run."""
        result = prepare(self.ctx, build_id)
        assert isinstance(result, tuple), f"prepare of build {build_id} gave {result!r}"
        return result

    def stage(self, build_id: int, attempt: int, position: int) -> None:
        run_stage(self.ctx, build_id, attempt, position)

    def finish(self, build_id: int, attempt: int) -> str | None:
        return finish(self.ctx, build_id, attempt)

    def start(self, build_id: int) -> int:
        """route and prepare; returns the attempt."""
        assert self.route(build_id) is not None, self.build(build_id)
        attempt, _ = self.prepare(build_id)
        return attempt

    def drive(self, build_id: int) -> dict[str, Any]:
        """What the worker's chain does with a queued build; returns the build as the API
        shows it."""
        if self.route(build_id) is not None:
            result = prepare(self.ctx, build_id)
            if isinstance(result, tuple):
                attempt, positions = result
                for position in positions:
                    self.stage(build_id, attempt, position)
                self.finish(build_id, attempt)
        return self.build(build_id)

    def run(self, text: str, **kw: Any) -> dict[str, Any]:
        """Commit ``text`` as ocelot.yml, queue a build of master and drive it."""
        self.repo(text)
        return self.drive(self.queue(**kw))

    def in_thread(self, step: Callable[..., object], *args: Any) -> Worker:
        """Run ``step(*args)`` in a thread, like a worker process busy with it."""
        worker = Worker(step, args)
        worker.start()
        return worker

    # -- what tests look at -------------------------------------------------------------------

    def build(self, build_id: int) -> dict[str, Any]:
        with session_scope(self.engine) as session:
            build = session.get(Build, build_id)
            assert build is not None
            return build.to_dict()

    def row(self, build_id: int, *columns: str) -> Any:
        """Columns of the build row the API does not show (lease_until, deadline_at ...)."""
        with session_scope(self.engine) as session:
            found = session.execute(
                select(*(getattr(Build, c) for c in columns)).where(Build.id == build_id)
            ).one()
            return found if len(columns) > 1 else found[0]

    def stages(self, build_id: int, attempt: int) -> list[dict[str, Any]]:
        with session_scope(self.engine) as session:
            rows = session.scalars(
                select(Stage)
                .where(Stage.build_id == build_id, Stage.attempt == attempt)
                .order_by(Stage.position)
            )
            return [s.to_dict() for s in rows]

    def log(self, build_id: int, stage: str | None = None) -> str:
        return read_text(self.engine, build_id, stage)

    # -- time passing, without waiting for it -------------------------------------------------

    def expire_lease(self, build_id: int) -> None:
        """Nobody renewed the lease for longer than it lasts: the worker is gone."""
        self._set(build_id, lease_until=utcnow() - timedelta(seconds=1))

    def pass_deadline(self, build_id: int, by: timedelta) -> None:
        self._set(build_id, deadline_at=utcnow() - by)

    def _set(self, build_id: int, **values: Any) -> None:
        with session_scope(self.engine) as session:
            session.execute(update(Build).where(Build.id == build_id).values(**values))


class Worker(threading.Thread):
    """A step running in a thread; ``join_ok`` re-raises what the step raised."""

    def __init__(self, step: Callable[..., object], args: tuple[Any, ...]) -> None:
        super().__init__(daemon=True, name=f"runner-{getattr(step, '__name__', 'step')}")
        self.step, self.args = step, args
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.step(*self.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test in join_ok
            self.error = exc

    def join_ok(self, timeout: float) -> None:
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} still running after {timeout}s"
        if self.error is not None:
            raise self.error


def runner_for(settings: Settings, engine: Engine, root: Path, **changes: Any) -> Iterator[Runner]:
    """The ``runner`` fixture: worker ``w1``, a short kill grace, a Redis client closed after."""
    client = redis_lib.Redis.from_url(settings.broker_url)
    base = settings.with_(worker_name="w1", kill_grace_seconds=0.5, **changes)
    try:
        yield Runner(base, engine, client, root)
    finally:
        client.close()
