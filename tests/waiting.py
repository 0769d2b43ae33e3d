"""Waiting for something that happens in another thread, process or container.

:func:`eventually` is the one polling loop of the test suite: every "wait until X, at most
N seconds" goes through it, so a timeout always says what it waited for (and, with a
callable ``what``, the state that explains it, e.g. the tail of a worker's log).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    predicate: Callable[[], T],
    timeout: float,
    what: str | Callable[[], str],
    *,
    interval: float = 0.1,
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that. After ``timeout`` seconds raise ``AssertionError("timed out after Ns
    waiting for <what>")``; ``what`` may be a callable, evaluated only then. An exception
    raised by ``predicate`` propagates at once (use it to give up early)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    description = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout:g}s waiting for {description}")
