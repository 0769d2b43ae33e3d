"""One :class:`~ocelot.runner.RunContext` per worker process (DB engine, Redis, executor)."""

from __future__ import annotations

import redis

from ocelot.db import make_engine
from ocelot.runner import RunContext
from ocelot.settings import Settings

_ctx: RunContext | None = None


def get_context(settings: Settings) -> RunContext:
    global _ctx
    if _ctx is None:
        _ctx = RunContext(
            settings=settings,
            engine=make_engine(settings),
            redis=redis.Redis.from_url(settings.broker_url),
        )
        _ctx.on_finished.append(_enqueue_notifications)
        _ctx.on_started.append(_enqueue_forge_report)
        _ctx.on_finished.append(_enqueue_forge_report)
    return _ctx


def _enqueue_notifications(build_id: int, status: str) -> None:
    from worker.tasks.notify import enqueue  # late: worker.tasks imports this module

    enqueue(build_id)


def _enqueue_forge_report(build_id: int, status: str) -> None:
    from worker.tasks.forge import enqueue  # late, like notifications

    enqueue(build_id)


def reset_context() -> None:
    """Forget the context (after fork: connections must not be shared with the parent)."""
    global _ctx
    _ctx = None
