"""The typed result of a valid ocelot.yml, and the decisions a build makes from it.

:func:`load_config` lints the text and turns a valid file into a frozen :class:`BuildConfig`;
each process does that once per distinct text (the result is cached and shared, so callers
must treat it, and the dicts in it, as read-only).
The other functions answer the questions the build pipeline asks of a config: does this
branch build (:func:`check_branch`), does this stage run on this changeset
(:func:`stage_runs`), and what exactly is executed, where (:func:`stage_command`).
Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ocelot.errors import ConfigError
from ocelot.pipeline.images import ImageBuild
from ocelot.pipeline.linter import check
from ocelot.pipeline.parser import Issue
from ocelot.pipeline.schema import normalise_workdir, parse_duration
from ocelot.pipeline.triggers import Changeset, Trigger, branch_matches, parse_trigger

__all__ = [
    "STARTER_YML",
    "BuildConfig",
    "ImageBuild",
    "StageConfig",
    "branch_allowed",
    "check_branch",
    "load_config",
    "parse_duration",
    "stage_command",
    "stage_env",
    "stage_runs",
]

ALL_BRANCHES = "ALL"


@dataclass(frozen=True)
class StageConfig:
    """One entry of ``stages``. ``timeout_seconds`` is the stage's own (None: use the build's).
    A stage runs ``script`` or, when ``build_image`` is set, builds an image (script empty)."""

    name: str
    script: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    image: str | None = None
    timeout_seconds: float | None = None
    retry: int = 0
    allow_failure: bool = False
    triggers: tuple[Trigger, ...] = ()
    trigger_branches: tuple[str, ...] = ()
    build_image: ImageBuild | None = None


@dataclass(frozen=True)
class BuildConfig:
    """A valid ocelot.yml. ``notify`` is normalised: ``{"slack": {...}, "email": {"to": [..],
    "on": [..]}}`` with only the transports the file names; ``on`` is always a list."""

    image: str | None
    machine_tag: str | None
    build_tool: str
    branches: tuple[str, ...]
    env: dict[str, str]
    working_dir: str | None
    timeout_seconds: float | None
    stages: tuple[StageConfig, ...]
    notify: dict[str, Any]
    # several pipelines per repository (ocelot.pipeline.layout): changed-file globs that
    # must match for the pipeline to build, and pipelines of the same event to wait for
    paths: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


CONFIG_CACHE_SIZE = 64
"""How many distinct ocelot.yml texts a process keeps parsed (a build's steps all ask for the
same text: route, prepare, every stage, finish, notifications)."""


def load_config(text: str) -> BuildConfig:
    """Lint ``text`` and build its config; raise ConfigError carrying every error issue.

    A valid text is parsed once per process: the same :class:`BuildConfig` object is returned
    for it afterwards, so never change it (or its ``env``/``notify`` dicts). Invalid texts
    are not cached (the error is raised again, with a fresh lint).
    """
    return _parse_config(text)


@functools.lru_cache(maxsize=CONFIG_CACHE_SIZE)
def _parse_config(text: str) -> BuildConfig:
    result = check(text)
    errors = result.errors
    if errors or result.data is None:
        count = len(errors)
        raise ConfigError(
            f"ocelot.yml is invalid ({count} issue{'s' if count != 1 else ''})", issues=errors
        )
    return _build(result.data)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _env(entries: list[str] | None) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in entries or ())


def _workdir(value: str | None) -> str | None:
    return normalise_workdir(value) if value else None


def _seconds(value: Any) -> float | None:
    return None if value is None else parse_duration(value)


def _notify(data: dict[str, Any] | None) -> dict[str, Any]:
    notify: dict[str, Any] = {}
    slack = (data or {}).get("slack")
    if isinstance(slack, dict):
        notify["slack"] = {**slack, "on": list(slack.get("on") or [])}
    email = (data or {}).get("email")
    if isinstance(email, dict):
        to = email["to"]
        notify["email"] = {"to": [to] if isinstance(to, str) else list(to)}
        notify["email"]["on"] = list(email.get("on") or [])
    return notify


def _stage(index: int, data: dict[str, Any]) -> StageConfig:
    trigger = data.get("trigger") or {}
    return StageConfig(
        name=_text(data.get("name")) or f"stage {index + 1}",
        script=tuple(data.get("script") or ()),
        env=_env(data.get("env")),
        working_dir=_workdir(data.get("working_dir")),
        image=_text(data.get("image")),
        timeout_seconds=_seconds(data.get("timeout")),
        retry=int(data.get("retry") or 0),
        allow_failure=bool(data.get("allow_failure", False)),
        triggers=tuple(parse_trigger(line) for line in data.get("triggers") or ()),
        trigger_branches=tuple(trigger.get("branches") or ()),
        build_image=_image_build(data.get("build_image")),
    )


def _image_build(data: dict[str, Any] | None) -> ImageBuild | None:
    if data is None:
        return None
    context = _workdir(data.get("context")) or "."
    default = "Dockerfile" if context == "." else posixpath.join(context, "Dockerfile")
    return ImageBuild(
        dockerfile=_workdir(data.get("dockerfile")) or default,
        context=context,
        tags=tuple(data["tags"]),
        push=_text(data.get("push")),
        build_args=dict(data.get("build_args") or {}),
    )


def _build(data: dict[str, Any]) -> BuildConfig:
    return BuildConfig(
        image=_text(data.get("image")),
        machine_tag=_text(data.get("machineTag")),
        build_tool=data["buildTool"],
        branches=tuple(data.get("branches") or ()),
        env=_env(data.get("env")),
        working_dir=_workdir(data.get("working_dir")),
        timeout_seconds=_seconds(data.get("timeout")),
        stages=tuple(_stage(i, stage) for i, stage in enumerate(data["stages"])),
        notify=_notify(data.get("notify")),
        paths=tuple(data.get("paths") or ()),
        depends_on=tuple(dict.fromkeys(data.get("depends_on") or ())),
    )


# -- questions a build asks -------------------------------------------------------------------


def branch_allowed(branches: Sequence[str], branch: str) -> bool:
    """Whether ``branch`` builds: some entry is ``ALL`` or a regex matching it entirely."""
    return any(entry == ALL_BRANCHES or branch_matches(entry, branch) for entry in branches)


def check_branch(config: BuildConfig, branch: str) -> None:
    """Raise ConfigError with the original message when ``branch`` is not in the list."""
    if branch_allowed(config.branches, branch):
        return
    listed = ", ".join(config.branches) or "(empty: nothing builds unless the build is forced)"
    message = f"branch {branch} not in the acceptable branches list: {listed}"
    raise ConfigError(message, issues=[Issue("branches", None, message)])


def stage_runs(stage: StageConfig, ctx: Changeset) -> tuple[bool, str]:
    """Whether ``stage`` runs for ``ctx``, and why (the reason is the message of a skip).

    ``triggers`` decide when present (any line holding is enough); otherwise the old
    ``trigger.branches``; otherwise the stage always runs.
    """
    if stage.triggers:
        for trigger in stage.triggers:
            if trigger.matches(ctx):
                return True, f"trigger matched ({trigger.line})"
        reason = "skipped: no trigger matched (" + "; ".join(t.line for t in stage.triggers) + ")"
        if not ctx.known and any(t.needs_changeset for t in stage.triggers):
            reason += "; the changeset is unknown, so \\text and \\filepath are false"
        return False, reason
    if stage.trigger_branches:
        if branch_allowed(stage.trigger_branches, ctx.branch):
            return True, f"branch {ctx.branch} matches trigger.branches"
        listed = ", ".join(stage.trigger_branches)
        return False, f"skipped: branch {ctx.branch} not in trigger.branches ({listed})"
    return True, "no conditions"


def stage_env(config: BuildConfig, stage: StageConfig) -> dict[str, str]:
    """The file's environment for ``stage``: top-level ``env`` overridden by the stage's."""
    return {**config.env, **stage.env}


def resolve_workdir(workspace: str, relative: str | None) -> str:
    """``relative`` joined under ``workspace`` (posix, normalised); ConfigError if it leaves it."""
    root = posixpath.normpath(workspace)
    if not relative:
        return root
    inside = normalise_workdir(relative)
    if inside is None:
        raise ConfigError(f"working_dir {relative!r} must stay inside the workspace")
    return root if inside == "." else posixpath.join(root, inside)


def stage_command(stage: StageConfig, config: BuildConfig, workspace: str) -> tuple[list[str], str]:
    """``(["sh", "-c", "cd <workdir> && line1 && line2 ..."], workdir)`` for ``stage``.

    The stage's ``working_dir`` overrides the top-level one; both are relative to the
    checkout at ``workspace``. Lines are joined with ``&&``, so the first failing line ends
    the stage, as in the original.
    """
    workdir = resolve_workdir(workspace, stage.working_dir or config.working_dir)
    command = " && ".join([f"cd {shlex.quote(workdir)}", *stage.script])
    return ["sh", "-c", command], workdir


STARTER_YML = """\
# ocelot.yml: how Ocelot builds this repository. Check it with `ocelot validate`.

# The Docker image every stage runs in. To run on workers with a tag instead (e.g. a mac
# without Docker), replace it with `machineTag: <tag>`; use one of the two, not both.
image: ocelot/busybox

# Names the build tool (go, maven, ...); integrations such as maven settings key off it.
buildTool: shell

# Branches that build: regular expressions matching the whole branch name. ALL builds every
# branch; an empty list builds nothing unless the build is forced.
branches:
  - ALL

# Environment for every stage, as KEY=value.
env:
  - "GREETING=hello"

# Stages run in order in the same checkout. A stage's script lines run as
#   sh -c "cd <workdir> && line1 && line2 ..."
stages:
  - name: build
    script:
      - echo "$GREETING, building"
      - ls -la

  - name: test
    # timeout: 10m          # fail the stage (reason: timeout) after this long
    # retry: 1              # re-run a failing stage up to this many times
    # allow_failure: true   # a failure here does not fail the build
    # triggers:             # run only when a line holds, e.g.
    #   - \\branch main|release/.* or \\text [run tests]
    script:
      - echo "tests go here"

# notify:
#   slack:
#     channel: "#builds"
#     identifier: my-slack-credential
#     on: [FAIL, FIXED]
#   email:
#     to: team@example.com
#     on: [FAIL]
"""
