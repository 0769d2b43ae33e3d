"""What the executor tests share: a build key, a small checkout, and running one stage
with its output kept with arrival times."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ocelot.executors import BuildKey, Executor, StageOutcome


def random_key(attempt: int | None = None) -> BuildKey:
    """A build key no other test uses (``attempt`` random too when None)."""
    return BuildKey(
        random.randrange(10**9, 2 * 10**9),
        attempt if attempt is not None else random.randrange(1, 100),
    )


def sample_checkout(root: Path) -> Path:
    """``README`` ("hello from the checkout") and an executable ``sub/run.sh`` (echo ran)."""
    (root / "sub").mkdir(parents=True)
    (root / "README").write_text("hello from the checkout\n")
    (root / "sub" / "run.sh").write_text("echo ran\n")
    (root / "sub" / "run.sh").chmod(0o755)
    return root


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
