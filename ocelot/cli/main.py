"""The ``ocelot`` click group and :func:`main`, the console script's entry point.

This is the one place where errors become what the user sees: any
:class:`~ocelot.errors.OcelotError` is printed as ``Error: <message>`` on stderr (the
"isn't tracked by ocelot" line bare, as the original printed it) and ends the process with
its ``exit_code`` (3 for a repository Ocelot does not track); no traceback for an expected
error.
"""

from __future__ import annotations

import copy
from typing import IO, Any

import click

from ocelot.cli.commands.admin import admin
from ocelot.cli.commands.builds import approve, build, decline, kill, rebuild, status, summary
from ocelot.cli.commands.creds import creds
from ocelot.cli.commands.local import init, validate
from ocelot.cli.commands.logs import logs
from ocelot.cli.commands.poll import poll
from ocelot.cli.commands.repos import repos
from ocelot.cli.commands.subscriptions import subscribe, subscriptions, unsubscribe
from ocelot.cli.commands.watch import deliveries, unwatch, watch
from ocelot.cli.commands.workers import workers
from ocelot.errors import ConfigError, NotTracked, OcelotError


class CliError(click.ClickException):
    """An OcelotError on its way to stderr, keeping its exit code."""

    def __init__(self, error: OcelotError) -> None:
        super().__init__(error.message)
        self.error = error
        self.exit_code = error.exit_code  # type: ignore[misc]  # click reads it per instance

    def format_message(self) -> str:
        message = self.message
        if isinstance(self.error, ConfigError):  # a 422 from the server carries its issues
            for issue in self.error.issues:
                message += "\n  " + _issue_line(issue)
        return message

    def show(self, file: IO[Any] | None = None) -> None:
        # The original Ocelot printed this one bare, and scripts grep for the exact line.
        prefix = "" if isinstance(self.error, NotTracked) else "Error: "
        click.echo(f"{prefix}{self.format_message()}", file=file, err=file is None)


def _issue_line(issue: Any) -> str:
    if not isinstance(issue, dict):
        return str(issue)
    where = "ocelot.yml" if issue.get("line") is None else f"ocelot.yml:{issue['line']}"
    parts = [where, issue.get("path"), issue.get("message")]
    return ": ".join(str(p) for p in parts if p)


class OcelotGroup(click.Group):
    """A group that turns OcelotError from any subcommand into a clean CLI error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OcelotError as exc:
            raise CliError(exc) from None


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=OcelotGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="ocelot-ci", prog_name="ocelot")
def cli() -> None:
    """Ocelot: a self-hosted CI server. This is its command line.

    Talks to the server at OCELOT_URL (default http://127.0.0.1:5000) with the token in
    OCELOT_TOKEN, or `url:` / `token:` in ~/.config/ocelot/config.yml. Inside a git
    checkout, ACCT/REPO and --hash default to the origin remote and HEAD.

    \b
    Exit codes: 0 ok, 1 error or failed build, 2 bad usage,
                3 the repository isn't tracked by ocelot.
    """


for command in (init, validate, repos, build, status, summary, logs, kill, rebuild, admin, workers):
    cli.add_command(command)
cli.add_command(creds)
for command in (approve, decline):  # the trust boundary (untrusted pull requests)
    cli.add_command(command)
for command in (watch, unwatch, deliveries, poll):  # forges (issue 3)
    cli.add_command(command)
for command in (subscribe, unsubscribe, subscriptions):  # upstream → downstream (issue 12)
    cli.add_command(command)

# `ocelot lint` is the name the pipeline library's messages use; keep it as a quiet alias.
_lint = copy.copy(validate)
_lint.hidden = True
cli.add_command(_lint, "lint")


def main() -> None:
    """Console script ``ocelot``."""
    cli(prog_name="ocelot")
