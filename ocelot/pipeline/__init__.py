"""ocelot.yml as a pure library: parse → lint → typed config, plus the trigger grammar.

Used by the build pipeline (``ocelot.runner``), the web API and ``ocelot lint`` alike. No I/O
besides reading the packaged schema file; imports neither Flask nor Celery.

* :func:`lint` — every problem at once, as :class:`Issue` (path, line, message, severity).
* :func:`load_config` — a valid file as a :class:`BuildConfig`, else ConfigError with issues.
* :func:`check_branch`, :func:`stage_runs`, :func:`stage_command` — what a build does with it.
* :func:`parse_trigger` / :class:`Changeset` — the ``stages[].triggers`` grammar.
* :func:`get_schema` / :func:`schema_text` — the JSON Schema (draft 2020-12) of the format.
* :mod:`~ocelot.pipeline.layout` — several pipelines per repository (``ocelot.yml`` is
  ``default``, ``.ocelot/<name>.yml`` is ``<name>``), their names and ``depends_on`` graph;
  :func:`paths_verdict` — the ``paths:`` filter on a changeset.
"""

from ocelot.pipeline.layout import (
    DEFAULT_PIPELINE,
    config_path,
    graph_problems,
    name_problem,
    pipeline_files,
)
from ocelot.pipeline.linter import LintResult, check, lint
from ocelot.pipeline.parser import Issue
from ocelot.pipeline.paths import paths_verdict
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
    "DEFAULT_PIPELINE",
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
    "config_path",
    "get_schema",
    "graph_problems",
    "lint",
    "load_config",
    "name_problem",
    "parse_duration",
    "parse_trigger",
    "paths_verdict",
    "pipeline_files",
    "resolve_workdir",
    "schema_text",
    "stage_command",
    "stage_env",
    "stage_runs",
]
