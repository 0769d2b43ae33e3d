"""A real project's test suite through a build, against ``docker run`` of the same commands.

The project is Ocelot itself at the commit being benchmarked: its unit tests (about 800,
pure Python, some making git repositories) run in ``ocelot/python-bench``, an image made
offline from this machine's Python and the project's virtualenv
(scripts/build-python-image.sh). The floor is ``docker run --rm`` of the same command in the
same image with a checkout bind-mounted (no copy at all); the build is a 1-stage Docker
build of a clone of the project, from the API request to its end event, copy of the
checkout included. Both run ``PYTHONDONTWRITEBYTECODE=1`` (set in the image), so neither
leaves compiled files behind for the next run.

``python -m bench.suite`` is not provided: it needs the worker of ``make bench``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

IMAGE = "ocelot/python-bench"
PROJECT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("OCELOT_BENCH_SUITE_RUNS", "3"))
COMMAND = "python -m pytest -q -p no:cacheprovider tests/unit"
YML = f"""image: {IMAGE}
buildTool: shell
branches: [ALL]
env: ["PYTHONPATH=/workspace"]
stages:
  - name: unit
    script: ["{COMMAND}"]
"""


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def ensure_image() -> None:
    """Build the image if this machine's daemon does not have it (about 30 s, once)."""
    subprocess.run(
        [str(PROJECT / "scripts" / "build-python-image.sh"), str(PROJECT / ".venv"), IMAGE],
        check=True,
        capture_output=True,
    )


def checkout(root: Path) -> Path:
    """A clone of the project's HEAD with the bench's ocelot.yml committed."""
    repo = root / "suite"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(repo)], check=True)
    _git("checkout", "-q", "-B", "master", cwd=repo)  # the branch the bench builds
    (repo / "ocelot.yml").write_text(YML)
    _git("add", "ocelot.yml", cwd=repo)
    _git("-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "bench",
         cwd=repo)  # fmt: skip
    return repo


def docker_run(repo: Path) -> tuple[float, str]:
    """Seconds of ``docker run --rm`` of the suite on a bind-mounted checkout, and pytest's
    summary line."""
    start = time.perf_counter()
    done = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{repo}:/workspace", "-w", "/workspace",
         "-e", "PYTHONPATH=/workspace", IMAGE, "sh", "-c", COMMAND],
        capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"the suite failed under docker run:\n{done.stdout[-3000:]}")
    lines = done.stdout.strip().splitlines()
    return elapsed, lines[-1].strip("= ") if lines else "?"


def measure(
    root: Path, add_repo: Callable[[Path, str], str], latency: Callable[[str], float]
) -> tuple[str, str, str, str]:
    """The row for bench/RESULTS.md: median build latency against median ``docker run``."""
    ensure_image()
    repo = checkout(root)
    name = add_repo(repo, "bench/suite")
    latency(name)  # warm-up: the mirror, the image's first start
    floors, builds, summary = [], [], "?"
    for _ in range(RUNS):  # interleaved, so both see the same machine
        took, summary = docker_run(repo)
        floors.append(took)
        builds.append(latency(name))
    floor, build = statistics.median(floors), statistics.median(builds)
    return (
        f"Ocelot's own unit tests ({summary}), 1-stage build (target <= 1.2x)",
        f"{build:.2f} s",
        f"`docker run --rm` of the same command, checkout mounted {floor:.2f} s",
        f"{build / floor:.2f}x",
    )
