"""One :class:`~ocelot.runner.RunContext` per worker process (DB engine, Redis, executor)."""

from __future__ import annotations

from ocelot.db import make_engine
from ocelot.redis_client import make_redis
from ocelot.runner import RunContext
from ocelot.settings import Settings

_ctx: RunContext | None = None


def get_context(settings: Settings) -> RunContext:
    """This process's context, made on first use."""
    global _ctx
    if _ctx is None:
        _ctx = RunContext(
            settings=settings,
            engine=make_engine(settings),
            redis=make_redis(settings),
        )
    return _ctx


def current_context() -> RunContext | None:
    """This process's context if one was made (never makes one)."""
    return _ctx


def reset_context() -> None:
    """Forget the context (after fork: connections must not be shared with the parent)."""
    global _ctx
    _ctx = None
