"""Where a repository's pipelines live, what they may be called, and how they may depend on
each other.

``ocelot.yml`` at the root of the repository is the pipeline named ``default``; every
``.ocelot/<name>.yml`` adds a pipeline named ``<name>``. Names are lower-case letters, digits,
``-`` and ``_``, starting with a letter or digit (:data:`NAME_RULE`), so a name is also a safe
file name, URL query value and log label. ``.ocelot/default.yml`` is refused: the default
pipeline is ``ocelot.yml``, and one name must not have two files.

``depends_on: [other]`` orders the builds of one event: :func:`graph_problems` finds the
names that do not exist and the cycles (with their path, ``a → b → a``). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

DEFAULT_PIPELINE = "default"
ROOT_FILE = "ocelot.yml"
DIRECTORY = ".ocelot"
SUFFIX = ".yml"
NAME_RULE = "[a-z0-9][a-z0-9_-]*"
MAX_NAME_LENGTH = 100

_NAME = re.compile(NAME_RULE)


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a pipeline, or None when it can."""
    if not isinstance(name, str) or not name:
        return "a pipeline name must be a non-empty string"
    if len(name) > MAX_NAME_LENGTH:
        return f"pipeline name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters"
    if not _NAME.fullmatch(name):
        return (
            f"{name!r} is not a pipeline name: use lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    return None


def config_path(name: str) -> str:
    """The file of pipeline ``name`` in the repository: ``ocelot.yml`` or
    ``.ocelot/<name>.yml``."""
    return ROOT_FILE if name == DEFAULT_PIPELINE else f"{DIRECTORY}/{name}{SUFFIX}"


def pipeline_files(paths: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Pipelines named by the repository's file ``paths`` (``ocelot.yml`` and the direct
    entries of ``.ocelot/``), as ``{name: path}`` sorted by name, and a message for every
    ``.ocelot/`` entry that cannot be a pipeline file."""
    found: dict[str, str] = {}
    problems: list[str] = []
    for path in sorted(paths):
        if path == ROOT_FILE:
            found[DEFAULT_PIPELINE] = path
            continue
        if not path.startswith(f"{DIRECTORY}/"):
            continue
        entry = path.removeprefix(f"{DIRECTORY}/")
        if "/" in entry or not entry.endswith(SUFFIX):
            hint = " (did you mean .yml?)" if entry.endswith(".yaml") else ""
            problems.append(
                f"{path}: ignored; pipelines are files {DIRECTORY}/<name>{SUFFIX} directly "
                f"in {DIRECTORY}/{hint}"
            )
            continue
        name = entry.removesuffix(SUFFIX)
        if name == DEFAULT_PIPELINE:
            problems.append(
                f"{path}: the pipeline {DEFAULT_PIPELINE!r} is {ROOT_FILE} at the root; "
                "rename this file"
            )
            continue
        problem = name_problem(name)
        if problem is not None:
            problems.append(f"{path}: ignored; {problem}")
            continue
        found[name] = path
    return dict(sorted(found.items())), problems


def graph_problems(depends: Mapping[str, Sequence[str]]) -> list[str]:
    """Every ``depends_on`` naming a pipeline that does not exist, then every cycle, each
    once, as ``dependency cycle: a → b → a`` (starting at its smallest name)."""
    problems: list[str] = []
    names = sorted(depends)
    for name in names:
        for other in depends[name]:
            if other not in depends:
                known = ", ".join(names)
                problems.append(
                    f"pipeline {name!r} depends on {other!r}, which does not exist "
                    f"(pipelines: {known})"
                )
    for cycle in find_cycles(depends):
        problems.append("dependency cycle: " + " → ".join(cycle))
    return problems


def find_cycles(depends: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The cycles of the graph, each once, as a closed path ``[a, b, a]`` that starts at
    the cycle's smallest name; found by a depth-first walk in name order."""
    cycles: dict[tuple[str, ...], list[str]] = {}
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> None:
        if name in path:
            loop = path[path.index(name) :]
            start = loop.index(min(loop))
            ring = loop[start:] + loop[:start]
            cycles.setdefault(tuple(ring), [*ring, ring[0]])
            return
        if name in done or name not in depends:
            return
        path.append(name)
        for other in sorted(set(depends[name])):
            walk(other, path)
        path.pop()
        done.add(name)

    for name in sorted(depends):
        walk(name, [])
    return [cycles[key] for key in sorted(cycles)]


# -- depends_on at run time: shared by the route step and the lifecycle --------------------

SKIPPED_FOR_UPSTREAM = "not run: pipeline"


def wait_reason(name: str, build_id: int) -> str:
    """The pending reason of a build waiting for its upstream pipeline's build."""
    return f"waiting for pipeline {name} (build #{build_id})"


def skip_reason(name: str, build_id: int, status: str) -> str:
    """The reason of a build SKIPPED because its upstream pipeline's build did not pass."""
    return f"{SKIPPED_FOR_UPSTREAM} {name!r} (build #{build_id}) ended {status}"


def upstream_failed(status: str, reason: str | None) -> bool:
    """Whether an upstream build that ended with ``status`` (and ``reason``) stops the builds
    that depend on it. FAILED, FAILED_PRESTART, KILLED and DECLINED do, and SKIPPED when it
    was itself skipped for its own upstream (so a chain a → b → c stops at every link). A
    build SKIPPED by its filters (``branches``, ``paths``, ``[skip ci]``) does not: that
    pipeline had nothing to do for this event, as if it had no build in it."""
    if status == "PASSED":
        return False
    if status == "SKIPPED":
        return bool(reason and reason.startswith(SKIPPED_FOR_UPSTREAM))
    return True
