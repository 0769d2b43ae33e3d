"""``ocelot poll ACCT/REPO --cron ... --branches a,b|ALL`` / ``poll list`` / ``poll delete``."""

from __future__ import annotations

import click

from ocelot.cli.app import REPO, App, pass_app


class PollGroup(click.Group):
    """``poll ACCT/REPO ...`` sets a poll; ``poll list`` / ``poll delete`` are subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["set", *args]
        return super().parse_args(ctx, args)


@click.group("poll", cls=PollGroup)
def poll() -> None:
    """Poll repositories for new commits on a cron schedule.

    \b
    ocelot poll acme/app --cron "*/5 * * * *" --branches main,develop
    ocelot poll acme/app --cron "0 * * * *" --branches ALL
    ocelot poll list
    ocelot poll delete acme/app
    """


@poll.command("set")
@click.argument("repo", type=REPO, metavar="ACCT/REPO")
@click.option("--cron", required=True, help='When to poll, e.g. "*/5 * * * *" (UTC).')
@click.option("--branches", required=True, help="Branches to watch: a,b,c or ALL.")
@pass_app
def set_(app: App, repo: str, cron: str, branches: str) -> None:
    """Poll ACCT/REPO (replaces its poll if it has one)."""
    row = app.client.set_poll(repo, cron, branches)
    click.echo(f"polling {repo} at '{row['cron']}' for {', '.join(row['branches'])}")


@poll.command("list")
@pass_app
def list_(app: App) -> None:
    """List polls: repository, cron, branches, when last polled."""
    rows = app.client.polls()
    if not rows:
        app.note("no polls (add one with `ocelot poll ACCT/REPO --cron ... --branches ...`)")
    for row in rows:
        last = row.get("last_polled_at") or "never"
        error = f"  error: {row['last_error']}" if row.get("last_error") else ""
        click.echo(f"{row['repo']}  '{row['cron']}'  {','.join(row['branches'])}  {last}{error}")


@poll.command("delete")
@click.argument("repo", type=REPO, metavar="ACCT/REPO")
@pass_app
def delete(app: App, repo: str) -> None:
    """Stop polling ACCT/REPO."""
    app.client.delete_poll(repo)
    click.echo(f"{repo} is no longer polled")
