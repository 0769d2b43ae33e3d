"""Offline commands about ``ocelot.yml``: ``init`` writes a starter, ``validate`` checks one,
or every pipeline of the working tree (``ocelot.yml`` and ``.ocelot/*.yml``) and how they
depend on each other.

Both use :mod:`ocelot.pipeline` (imported when the command runs), the same library the
server uses, so a file that validates here is read the same way by a build.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ocelot.errors import ConfigError, InvalidRequest, OcelotError

DEFAULT_FILE = "ocelot.yml"


@click.command("init")
@click.option(
    "--path",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_FILE,
    show_default=True,
    help="Where to write the file.",
)
@click.option("--force", is_flag=True, help="Replace an existing file instead of refusing.")
def init(path: Path, force: bool) -> None:
    """Write a starter ocelot.yml in the current directory.

    The starter builds every branch in the ocelot/busybox image with two stages and
    comments on every key; edit it, then check it with `ocelot validate`. An existing
    file is never overwritten unless --force is given.
    """
    from ocelot.pipeline import STARTER_YML

    mode = "w" if force else "x"
    try:
        with path.open(mode, encoding="utf-8") as fh:
            fh.write(STARTER_YML)
    except FileExistsError:
        raise OcelotError(
            f"{path} already exists; not overwriting it "
            "(check it with `ocelot validate`, or use --force to replace it)"
        ) from None
    except OSError as exc:
        raise OcelotError(f"cannot write {path}: {exc.strerror or exc}") from None
    click.echo(f"wrote {path}; check it with `ocelot validate`")


def _read(file: str) -> tuple[str, str]:
    """(display name, text) of FILE; ``-`` reads standard input."""
    if file == "-":
        return "<stdin>", sys.stdin.read()
    path = Path(file)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        hint = " (write a starter one with `ocelot init`)" if file == DEFAULT_FILE else ""
        raise InvalidRequest(f"{file} not found{hint}") from None
    except IsADirectoryError:
        raise InvalidRequest(f"{file} is a directory, not an ocelot.yml") from None
    except OSError as exc:
        raise InvalidRequest(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        return file, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{file} is not UTF-8 text (byte {exc.start})") from None


def format_issue(issue: Any, name: str) -> str:
    """``name:12: warning: stages[1].script: message`` (line, severity and path when known)."""
    line = getattr(issue, "line", None)
    parts = [name if line is None else f"{name}:{line}"]
    if getattr(issue, "severity", "error") == "warning":
        parts.append("warning")
    if getattr(issue, "path", ""):
        parts.append(str(issue.path))
    parts.append(str(getattr(issue, "message", issue)))
    return ": ".join(parts)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _lint_file(name: str, text: str) -> tuple[Any, int, int]:
    """Print every issue of one pipeline file; return (config or None, errors, warnings)."""
    from ocelot import pipeline

    issues = pipeline.lint(text)
    for issue in issues:
        click.echo(format_issue(issue, name))
    errors = len([i for i in issues if getattr(i, "severity", "error") == "error"])
    warnings = len(issues) - errors
    if errors:
        return None, errors, warnings
    try:
        return pipeline.load_config(text), 0, warnings
    except ConfigError as exc:  # lint and load disagree: still show why
        for issue in exc.issues:
            click.echo(format_issue(issue, name))
        return None, max(len(exc.issues), 1), warnings


def _depends_on(text: str) -> list[str]:
    """The ``depends_on`` names of a file, even of one with other errors."""
    from ocelot import pipeline

    data = pipeline.check(text).data or {}
    names = data.get("depends_on")
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _working_tree_pipelines() -> tuple[dict[str, str], list[tuple[str, bool]]]:
    """``{name: path}`` of the pipelines in the current directory, and each file of
    ``.ocelot/`` that cannot be one, as (message, is an error)."""
    from ocelot.pipeline.layout import DIRECTORY, ROOT_FILE, SUFFIX, pipeline_files

    listing = [ROOT_FILE] if Path(ROOT_FILE).exists() else []
    directory = Path(DIRECTORY)
    if directory.is_dir():
        listing += [f"{DIRECTORY}/{entry.name}" for entry in directory.iterdir()]
    found, problems = pipeline_files(listing)
    return found, [(problem, problem.split(":", 1)[0].endswith(SUFFIX)) for problem in problems]


def _validate_all(branch: str | None) -> None:
    """Every pipeline of the working tree, then the set: unknown ``depends_on``, cycles."""
    from ocelot import pipeline

    found, layout = _working_tree_pipelines()
    errors = sum(1 for _, is_error in layout if is_error)
    warnings = len(layout) - errors
    for problem, is_error in layout:
        click.echo(problem if is_error else f"warning: {problem}")
    configs: dict[str, Any] = {}
    depends: dict[str, list[str]] = {}
    for name, path in found.items():
        shown, text = _read(path)
        config, bad, warned = _lint_file(shown, text)
        errors, warnings = errors + bad, warnings + warned
        depends[name] = _depends_on(text)
        if config is not None:
            configs[name] = config
            suffix = f" ({_count(warned, 'warning')})" if warned else ""
            click.echo(f"{shown} is valid{suffix} (pipeline {name})")
    for problem in pipeline.graph_problems(depends):
        click.echo(f"pipelines: {problem}")
        errors += 1
    if errors:
        detail = _count(errors, "error") + (f", {_count(warnings, 'warning')}" if warnings else "")
        raise ConfigError(f"the pipelines are invalid ({detail})")  # issues printed above
    if branch is None:
        return
    building = [n for n, c in configs.items() if pipeline.branch_allowed(c.branches, branch)]
    for name in configs:
        verdict = "would build" if name in building else "would not build"
        click.echo(f"pipeline {name}: branch {branch} {verdict}")
    if not building:
        raise ConfigError(f"no pipeline builds branch {branch}")


@click.command("validate")
@click.argument("file", default=None, required=False, metavar="[FILE]")
@click.option(
    "--branch",
    "-b",
    metavar="B",
    help="Also check that a push to branch B would build (the `branches:` filter).",
)
@click.option(
    "--schema", is_flag=True, help="Print the JSON Schema of ocelot.yml (for editors) and exit."
)
def validate(file: str | None, branch: str | None, schema: bool) -> None:
    """Check an ocelot.yml offline and print every issue with its line.

    FILE defaults to ./ocelot.yml; `-` reads standard input. Exits 1 when the file has an
    error (warnings alone pass) or when --branch names a branch that would not build.

    Without FILE, in a directory with a .ocelot/ folder, every pipeline is checked:
    ocelot.yml (pipeline default) and each .ocelot/NAME.yml (pipeline NAME), their names,
    `depends_on` naming a pipeline that does not exist, and dependency cycles (a → b → a).
    """
    from ocelot import pipeline
    from ocelot.pipeline.layout import DIRECTORY

    if schema:
        click.echo(pipeline.schema_text())
        return
    if file is None and Path(DIRECTORY).is_dir():
        _validate_all(branch)
        return
    name, text = _read(file or DEFAULT_FILE)
    issues = pipeline.lint(text)
    for issue in issues:
        click.echo(format_issue(issue, name))
    errors = [i for i in issues if getattr(i, "severity", "error") == "error"]
    warnings = len(issues) - len(errors)
    if errors:
        detail = _count(len(errors), "error")
        if warnings:
            detail += f", {_count(warnings, 'warning')}"
        raise ConfigError(f"{name} is invalid ({detail})")  # issues printed above
    try:
        config = pipeline.load_config(text)
    except ConfigError as exc:  # lint and load disagree: still show why
        for issue in exc.issues:
            click.echo(format_issue(issue, name))
        raise ConfigError(f"{name} is invalid: {exc.message}") from None
    suffix = f" ({_count(warnings, 'warning')})" if warnings else ""
    click.echo(f"{name} is valid{suffix}")
    if branch is not None:
        try:
            pipeline.check_branch(config, branch)
        except ConfigError as exc:
            raise ConfigError(exc.message) from None
        click.echo(f"branch {branch} would build")
