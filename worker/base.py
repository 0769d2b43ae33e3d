"""The one base class of Ocelot's tasks, and the one retry policy.

Every task of the worker's app is an :class:`OcelotTask` (``task_cls`` in
``worker/factory.py``). It gives the task:

* ``self.ctx``: this process's :class:`~ocelot.runner.RunContext` (DB engine, Redis,
  executor; one per pool process, see ``worker/context.py``);
* one retry policy, :data:`POLICY`: exponential backoff from 1 s, doubling, capped at 5 min,
  with ±25 % jitter so retries of many tasks do not arrive together; at most ``max_retries``
  retries (5 unless the task says otherwise). ``self.may_retry()`` says whether another
  retry is allowed, ``self.retry_later(exc)`` schedules it.

What happens around a task (a build step failing, a retry, announcing a build that ended) is
not here but in ``worker/signals.py``, on Celery's task signals.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import NoReturn

from celery import Task

from ocelot.runner import RunContext
from ocelot.settings import Settings
from worker.context import get_context


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap."""

    first: float = 1.0  # seconds before the first retry
    cap: float = 300.0
    jitter: float = 0.25  # ± this fraction

    def delay(self, retries: int) -> float:
        """Seconds before retry number ``retries + 1``: 1, 2, 4, ... ≤ cap, ± jitter."""
        base = min(self.cap, self.first * 2.0 ** max(0, retries))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    def next_delay(self, retries: int, max_retries: int | None) -> float | None:
        """The countdown of the next retry, or None when ``max_retries`` are spent."""
        if max_retries is not None and retries >= max_retries:
            return None
        return self.delay(retries)


POLICY = RetryPolicy()


class OcelotTask(Task):  # type: ignore[misc]
    """Base of every Ocelot task: the run context and the retry policy."""

    max_retries: int | None = 5
    retry_policy = POLICY

    @property
    def ctx(self) -> RunContext:
        return get_context(self.settings)

    @property
    def settings(self) -> Settings:
        return self.app.conf.ocelot_settings  # type: ignore[no-any-return]

    def may_retry(self) -> bool:
        """Whether the policy allows another retry of this run."""
        return self.retry_policy.next_delay(self.request.retries, self.max_retries) is not None

    def retry_later(self, exc: Exception) -> NoReturn:
        """Retry after the policy's delay (re-raises ``exc`` once the retries are spent)."""
        delay = self.retry_policy.next_delay(self.request.retries, self.max_retries)
        if delay is None:
            raise exc
        raise self.retry(exc=exc, countdown=delay)
