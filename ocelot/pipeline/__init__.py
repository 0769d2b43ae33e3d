"""ocelot.yml as a pure library: parse → lint → typed config, plus the trigger grammar.

Used by the build pipeline (``ocelot.runner``), the web API and ``ocelot lint`` alike. No I/O
besides reading the packaged schema file; imports neither Flask nor Celery.

* :func:`lint` — every problem at once, as :class:`Issue` (path, line, message, severity).
* :func:`load_config` — a valid file as a :class:`BuildConfig`, else ConfigError with issues.
* :func:`check_branch`, :func:`stage_runs`, :func:`stage_command` — what a build does with it.
* :func:`parse_trigger` / :class:`Changeset` — the ``stages[].triggers`` grammar.
* :func:`get_schema` / :func:`schema_text` — the JSON Schema (draft 2020-12) of the format.
"""

from ocelot.pipeline.linter import LintResult, check, lint
from ocelot.pipeline.parser import Issue
from ocelot.pipeline.plan import (
    STARTER_YML,
    BuildConfig,
    StageConfig,
    branch_allowed,
    check_branch,
    load_config,
    resolve_workdir,
    stage_command,
    stage_env,
    stage_runs,
)
from ocelot.pipeline.schema import get_schema, parse_duration, schema_text
from ocelot.pipeline.triggers import Changeset, Section, Trigger, parse_trigger

__all__ = [
    "STARTER_YML",
    "BuildConfig",
    "Changeset",
    "Issue",
    "LintResult",
    "Section",
    "StageConfig",
    "Trigger",
    "branch_allowed",
    "check",
    "check_branch",
    "get_schema",
    "lint",
    "load_config",
    "parse_duration",
    "parse_trigger",
    "resolve_workdir",
    "schema_text",
    "stage_command",
    "stage_env",
    "stage_runs",
]
