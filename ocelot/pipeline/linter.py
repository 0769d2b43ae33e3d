"""Checking an ocelot.yml: every problem at once, each with its key path and line.

:func:`lint` runs three passes and never raises:

1. YAML (:mod:`ocelot.pipeline.parser`): malformed text gives one issue with the YAML line.
2. Structure (:mod:`ocelot.pipeline.schema`): the JSON Schema, with the original Go Ocelot's
   messages where it had one ("BuildTool must be specified", ...). Unknown keys are warnings.
3. Meaning (here): regular expressions compile, trigger lines parse, working directories stay
   inside the workspace, timeouts are positive, stage names are present and distinct,
   ``paths`` globs compile, ``depends_on`` lists no name twice; ``build_image`` stages
   (:mod:`ocelot.pipeline.images`): paths inside the checkout, tags that name known
   variables and make valid references, ``image: "{BUILT}"`` only after such a stage.

A file is valid when no issue has severity ``error``; :func:`ocelot.pipeline.plan.load_config`
turns a valid file into a typed :class:`~ocelot.pipeline.plan.BuildConfig`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocelot.errors import ConfigError
from ocelot.pipeline.images import BUILD_VARIABLES, BUILT, placeholders, reference_problem
from ocelot.pipeline.parser import Issue, Path, Severity, format_path, parse
from ocelot.pipeline.paths import compile_glob
from ocelot.pipeline.schema import (
    coerce_strings,
    normalise_workdir,
    parse_duration,
    schema_issues,
)
from ocelot.pipeline.triggers import compile_branch_regex, parse_trigger

LineOf = Callable[[Path], int | None]


@dataclass(frozen=True)
class LintResult:
    """The data as the format reads it (None when unreadable) and every issue found."""

    data: dict[str, Any] | None
    issues: list[Issue]

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == "error"]


def lint(text: str) -> list[Issue]:
    """Every problem of an ocelot.yml, sorted by line; an empty list means a clean file."""
    return check(text).issues


def check(text: str) -> LintResult:
    """Like :func:`lint`, also returning the data for building a config from it."""
    try:
        document = parse(text)
    except ConfigError as exc:
        return LintResult(None, [i for i in exc.issues if isinstance(i, Issue)])
    # An empty file reads as an empty mapping, so it gets the original's messages.
    data = coerce_strings({} if document.data is None else document.data, document.raw)
    issues = [*document.warnings, *schema_issues(data, document.line_of)]
    if isinstance(data, dict):
        issues.extend(_Semantics(data, document.line_of).run())
    unique = {(i.path, i.message, i.severity): i for i in issues}
    ordered = sorted(unique.values(), key=Issue.sort_key)
    return LintResult(data if isinstance(data, dict) else None, ordered)


class _Semantics:
    """Checks the schema cannot express. Tolerates any shape: the schema reports bad types."""

    def __init__(self, data: dict[str, Any], line_of: LineOf) -> None:
        self.data = data
        self.line_of = line_of
        self.issues: list[Issue] = []

    def report(self, path: Path, message: str, severity: Severity = "error") -> None:
        self.issues.append(Issue(format_path(path), self.line_of(path), message, severity))

    def run(self) -> list[Issue]:
        self.branches(("branches",), self.data.get("branches"))
        self.workdir(("working_dir",), self.data.get("working_dir"))
        self.timeout(("timeout",), self.data.get("timeout"))
        self.paths(("paths",), self.data.get("paths"))
        self.depends_on(("depends_on",), self.data.get("depends_on"))
        stages = self.data.get("stages")
        if isinstance(stages, list):
            seen: dict[str, int] = {}
            built = False  # an earlier stage builds an image
            for index, stage in enumerate(stages):
                if isinstance(stage, dict):
                    self.stage(("stages", index), stage, seen)
                    self.images(("stages", index), stage, built)
                    built = built or isinstance(stage.get("build_image"), dict)
        return self.issues

    def _env_names(self, *entries: Any) -> set[str]:
        names = set(BUILD_VARIABLES)
        for listed in entries:
            if isinstance(listed, list):
                names.update(e.split("=", 1)[0] for e in listed if isinstance(e, str) and "=" in e)
        return names

    def images(self, path: Path, stage: dict[str, Any], built: bool) -> None:
        """``build_image`` and ``image`` of one stage (``built``: an earlier stage builds)."""
        known = self._env_names(self.data.get("env"), stage.get("env"))
        image = stage.get("image")
        spec = stage.get("build_image")
        if isinstance(image, str) and image == BUILT and not built:
            self.report(
                (*path, "image"),
                f'image "{BUILT}" needs an earlier stage with build_image: none comes before',
            )
        elif isinstance(image, str):
            for name in placeholders(image):
                if name not in known and f"{{{name}}}" != BUILT:
                    self.report((*path, "image"), self._unknown(name))
        if not isinstance(spec, dict):
            return
        if image is not None:
            self.report(
                (*path, "image"),
                "a build_image stage runs no container of its own, so image has no meaning here",
            )
        for key in ("dockerfile", "context"):
            value = spec.get(key)
            if isinstance(value, str) and normalise_workdir(value) is None:
                self.report(
                    (*path, "build_image", key),
                    f"{key} {value!r} must stay inside the checkout "
                    "(relative, not absolute, not leaving it with '..')",
                )
        tags = spec.get("tags")
        for number, tag in enumerate(tags if isinstance(tags, list) else ()):
            if not isinstance(tag, str) or not tag:
                continue
            where = (*path, "build_image", "tags", number)
            names = placeholders(tag)
            for name in names:
                if name not in known:
                    self.report(where, self._unknown(name))
            problem = reference_problem(re.sub(r"\{[A-Za-z0-9_]+\}", "x", tag))
            if problem is not None:
                self.report(where, f"tag {tag!r} {problem}")

    @staticmethod
    def _unknown(name: str) -> str:
        return (
            f"{{{name}}} is not a variable of this stage: use Ocelot's build variables "
            "(GIT_HASH_SHORT, GIT_BRANCH, BUILD_ID, ...) or a name of env"
        )

    def branches(self, path: Path, value: Any) -> None:
        if not isinstance(value, list):
            return
        for index, pattern in enumerate(value):
            if isinstance(pattern, str) and pattern and pattern != "ALL":
                try:
                    compile_branch_regex(pattern)
                except ConfigError as exc:
                    self.report((*path, index), exc.message)

    def paths(self, path: Path, value: Any) -> None:
        if not isinstance(value, list):
            return
        for index, glob in enumerate(value):
            if isinstance(glob, str) and glob:
                try:
                    compile_glob(glob)
                except ConfigError as exc:
                    self.report((*path, index), exc.message)

    def depends_on(self, path: Path, value: Any) -> None:
        if not isinstance(value, list):
            return
        seen: set[str] = set()
        for index, name in enumerate(value):
            if isinstance(name, str) and name in seen:
                self.report((*path, index), f"{name!r} is listed twice", "warning")
            if isinstance(name, str):
                seen.add(name)

    def workdir(self, path: Path, value: Any) -> None:
        if isinstance(value, str) and normalise_workdir(value) is None:
            self.report(
                path,
                f"working_dir {value!r} must stay inside the workspace "
                "(a path relative to the checkout, not absolute, not leaving it with '..')",
            )

    def timeout(self, path: Path, value: Any) -> None:
        if not isinstance(value, str):  # numbers are the schema's (exclusiveMinimum 0)
            return
        try:
            parse_duration(value)
        except ConfigError as exc:
            if "greater than zero" in exc.message:  # other forms are the schema's to report
                self.report(path, "timeout must be greater than zero")

    def stage(self, path: Path, stage: dict[str, Any], seen: dict[str, int]) -> None:
        index = int(path[-1])
        name = stage.get("name")
        if name is None or (isinstance(name, str) and not name.strip()):
            self.report(
                (*path, "name"),
                f"stage #{index + 1} has no name; it is shown as 'stage {index + 1}'",
                "warning",
            )
        elif not isinstance(name, str):
            pass  # the schema reports the type
        elif name in seen:
            self.report(
                (*path, "name"),
                f"duplicate stage name {name!r} (also stages[{seen[name]}])",
                "warning",
            )
        else:
            seen[name] = index
        self.workdir((*path, "working_dir"), stage.get("working_dir"))
        self.timeout((*path, "timeout"), stage.get("timeout"))
        trigger = stage.get("trigger")
        if isinstance(trigger, dict):
            self.branches((*path, "trigger", "branches"), trigger.get("branches"))
        lines = stage.get("triggers")
        if isinstance(lines, list):
            for number, line in enumerate(lines):
                if isinstance(line, str) and line:
                    try:
                        parse_trigger(line)
                    except ConfigError as exc:
                        self.report((*path, "triggers", number), exc.message)
            if lines and isinstance(trigger, dict) and trigger.get("branches"):
                self.report(
                    (*path, "trigger"),
                    "trigger.branches is ignored because triggers is present",
                    "warning",
                )
