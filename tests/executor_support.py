"""What the executor tests share: run one stage and keep its output with arrival times."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ocelot.executors import BuildKey, Executor, StageOutcome


@dataclass
class Run:
    outcome: StageOutcome
    elapsed: float
    chunks: list[tuple[float, bytes]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return b"".join(c for _, c in self.chunks).decode()


def run(
    executor: Executor,
    key: BuildKey,
    script: str,
    *,
    workdir: str = "/workspace",
    env: dict[str, str] | None = None,
    image: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    timeout: float | None = 60,
    grace: float = 1,
) -> Run:
    """Run ``sh -c script`` as a stage; each output chunk is kept with its arrival time."""
    chunks: list[tuple[float, bytes]] = []
    start = time.monotonic()
    outcome = executor.run_stage(
        key,
        "test stage",
        ["sh", "-c", script],
        env or {},
        workdir,
        image=image,
        on_output=lambda chunk: chunks.append((time.monotonic() - start, chunk)),
        should_stop=should_stop,
        timeout=timeout,
        grace=grace,
    )
    return Run(outcome, time.monotonic() - start, chunks)
