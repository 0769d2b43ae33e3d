"""``ocelot subscribe`` / ``unsubscribe`` / ``subscriptions``: build a repository when another
repository's branch passes (upstream → downstream; REST ``/api/v1/subscriptions``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click
from rich import box
from rich.table import Table
from rich.text import Text

from ocelot.cli.app import REPO, App, pass_app
from ocelot.cli.output import DASH, style_for
from ocelot.errors import NotFound


def _since(row: Mapping[str, Any]) -> str:
    created = str(row.get("created_at") or "")
    return created[:10] or DASH


def subscriptions_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """One subscription a row: id, the repository built and its branch, when which
    repository's branch passes, who subscribed it and on which day."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=0)
    table.add_column("id", justify="right", no_wrap=True, style=style_for("id"))
    table.add_column("builds", overflow="fold", style=style_for("repo"))
    table.add_column("branch", overflow="fold", style=style_for("branch"))
    table.add_column("when", overflow="fold", style=style_for("repo"))
    table.add_column("passes", overflow="fold", style=style_for("branch"))
    table.add_column("by", overflow="ellipsis", min_width=5)
    table.add_column("since", no_wrap=True)
    for row in rows:
        table.add_row(
            Text(str(row.get("id", DASH))),
            Text(str(row.get("downstream") or DASH)),
            Text(str(row.get("downstream_branch") or DASH)),
            Text(str(row.get("upstream") or DASH)),
            Text(str(row.get("upstream_branch") or DASH)),
            Text(str(row.get("created_by") or DASH)),
            Text(_since(row)),
        )
    return table


@click.command("subscribe")
@click.argument("repo", type=REPO, metavar="[ACCT/REPO]", required=False)
@click.option(
    "--to",
    "upstream",
    type=REPO,
    required=True,
    metavar="ACCT/REPO",
    help="The upstream repository whose passing builds build this one.",
)
@click.option("--branch", metavar="B", help="The upstream's branch to follow (default: master).")
@click.option(
    "--downstream-branch", metavar="B", help="The branch of ACCT/REPO to build (default: master)."
)
@pass_app
def subscribe(
    app: App, repo: str | None, upstream: str, branch: str | None, downstream_branch: str | None
) -> None:
    """Build ACCT/REPO whenever a build of --to's branch passes.

    The new build runs ACCT/REPO's branch head, with trigger `upstream`, triggered by
    ACCT/LIB#ID, and its stages see OCELOT_UPSTREAM_REPO, OCELOT_UPSTREAM_BUILD_ID and
    OCELOT_UPSTREAM_HASH. A subscription that would make the builds go round is refused.

    \b
    Example:
      ocelot subscribe acme/app --to acme/lib
      ocelot subscribe acme/app --to acme/lib --branch develop --downstream-branch main
    """
    downstream = app.repo(repo)
    row = app.client.subscribe(
        downstream, upstream, upstream_branch=branch, downstream_branch=downstream_branch
    )
    click.echo(
        f"{row['downstream']} ({row['downstream_branch']}) is built when "
        f"{row['upstream']} ({row['upstream_branch']}) passes (subscription {row['id']})"
    )


@click.command("unsubscribe")
@click.argument("repo", type=REPO, metavar="[ACCT/REPO]", required=False)
@click.option(
    "--to",
    "upstream",
    type=REPO,
    required=True,
    metavar="ACCT/REPO",
    help="The upstream repository to stop following.",
)
@click.option(
    "--branch", metavar="B", help="The upstream's branch (needed when ACCT/REPO follows several)."
)
@pass_app
def unsubscribe(app: App, repo: str | None, upstream: str, branch: str | None) -> None:
    """Stop building ACCT/REPO when --to's branch passes.

    \b
    Example:
      ocelot unsubscribe acme/app --to acme/lib
    """
    downstream = app.repo(repo)
    rows = app.client.subscriptions(
        downstream=downstream, upstream=upstream, upstream_branch=branch
    )
    if not rows:
        on = f" (branch {branch})" if branch else ""
        raise NotFound(f"{downstream} does not subscribe to {upstream}{on}")
    if len(rows) > 1:
        branches = ", ".join(str(r.get("upstream_branch")) for r in rows)
        raise click.UsageError(
            f"{downstream} subscribes to {upstream} on several branches ({branches}): "
            "say which with --branch"
        )
    row = rows[0]
    app.client.unsubscribe(int(row["id"]))
    click.echo(f"{downstream} is no longer built when {upstream} ({row['upstream_branch']}) passes")


@click.command("subscriptions")
@click.argument("repo", type=REPO, metavar="[ACCT/REPO]", required=False)
@click.option(
    "--json", "as_json", is_flag=True, help="Print what the server sent, as JSON, for scripts."
)
@pass_app
def subscriptions(app: App, repo: str | None, as_json: bool) -> None:
    """List subscriptions: which repository is built when which repository's branch
    passes; with ACCT/REPO, those it is on either side of."""
    rows = app.client.subscriptions(repo)
    if as_json:
        click.echo(json.dumps({"subscriptions": rows}, indent=2))
        return
    if not rows:
        of = f" of {repo}" if repo else ""
        app.note(f"no subscriptions{of} (add one with `ocelot subscribe ACCT/REPO --to ACCT/LIB`)")
        return
    app.out.print(subscriptions_table(rows))
