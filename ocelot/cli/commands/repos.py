"""``ocelot repos add|list|set|remove|discover``: which repositories Ocelot tracks."""

from __future__ import annotations

import click

from ocelot.cli.app import NEW_REPO, REPO, App, pass_app
from ocelot.cli.output import discover_table, repos_table
from ocelot.forges import VCS_TYPES, WEBHOOK_FORGES


@click.group("repos")
def repos() -> None:
    """Track, list and untrack repositories."""


@repos.command("add")
@click.argument("repo", type=NEW_REPO, metavar="ACCT/REPO")
@click.option("--url", required=True, help="Clone URL or local path of the repository.")
@click.option(
    "--vcs-type",
    type=click.Choice(VCS_TYPES, case_sensitive=False),
    help="Forge that hosts it (default: git, a plain git URL or path).",
)
@click.option("--group", "-g", metavar="G", help="Put the repository in group G.")
@pass_app
def add(app: App, repo: str, url: str, vcs_type: str | None, group: str | None) -> None:
    """Track ACCT/REPO so it can be built.

    \b
    Example:
      ocelot repos add acme/demo --url https://github.com/acme/demo.git --vcs-type github
    """
    created = app.client.add_repo(repo, url, vcs_type.lower() if vcs_type else None, group)
    kind = created.get("vcs_type") or vcs_type or "git"
    in_group = f" in group {created['group']}" if created.get("group") else ""
    click.echo(
        f"tracking {created.get('full_name', repo)} ({kind}, {created.get('url', url)}){in_group}"
    )


@repos.command("list")
@click.option("--group", "-g", metavar="G", help="Only the repositories of group G.")
@pass_app
def list_(app: App, group: str | None) -> None:
    """List tracked repositories."""
    rows = app.client.repos(group)
    if not rows:
        app.note(
            f"no tracked repositories{f' in group {group}' if group else ''}"
            " (add one with `ocelot repos add ACCT/REPO --url URL`)"
        )
        return
    app.out.print(repos_table(rows))


@repos.command("set")
@click.argument("repo", type=REPO, metavar="ACCT/REPO")
@click.option(
    "--fork-prs",
    type=click.Choice(("approve", "run", "ignore")),
    help="Untrusted pull requests: wait for `ocelot approve` (default), run at once "
    "(still without credentials), or build nothing.",
)
@click.option(
    "--untrusted-prs",
    type=click.Choice(("forks", "all")),
    help="Which pull requests are untrusted: those from forks (default) or all of them.",
)
@click.option("--group", "-g", metavar="G", help="Move the repository to group G.")
@pass_app
def set_(
    app: App, repo: str, fork_prs: str | None, untrusted_prs: str | None, group: str | None
) -> None:
    """Change ACCT/REPO's settings.

    \b
    Example:
      ocelot repos set acme/demo --fork-prs=approve --untrusted-prs=all
    """
    changes = {
        k: v
        for k, v in (("fork_prs", fork_prs), ("untrusted_prs", untrusted_prs), ("group", group))
        if v is not None
    }
    if not changes:
        raise click.UsageError("nothing to change: give --fork-prs, --untrusted-prs or --group")
    row = app.client.update_repo(repo, **changes)
    click.echo(
        f"{row.get('full_name', repo)}: fork_prs={row.get('fork_prs')} "
        f"untrusted_prs={row.get('untrusted_prs')} group={row.get('group') or '-'}"
    )


@repos.command("remove")
@click.argument("repo", type=REPO, metavar="ACCT/REPO")
@pass_app
def remove(app: App, repo: str) -> None:
    """Stop tracking ACCT/REPO."""
    app.client.remove_repo(repo)
    click.echo(f"{repo} is no longer tracked")


@repos.command("discover")
@click.argument("acct", metavar="ACCT")
@click.option(
    "--forge",
    required=True,
    type=click.Choice(WEBHOOK_FORGES, case_sensitive=False),
    help="Forge that hosts the account, group or workspace.",
)
@click.option("--track", is_flag=True, help="Track the untracked repositories with ocelot.yml.")
@click.option("--group", "-g", metavar="G", help="Put newly tracked repositories in group G.")
@pass_app
def discover(app: App, acct: str, forge: str, track: bool, group: str | None) -> None:
    """List ACCT's repositories that contain an ocelot.yml (and track them with --track).

    Each repository --track adds gets a webhook (with the account's vcs token) when the
    forge can reach OCELOT_PUBLIC_URL, else a poll of its default branch every 5 minutes;
    the builds column says which.

    \b
    Example:
      ocelot repos discover acme --forge github --track --group web
    """
    rows = app.client.discover(acct, forge.lower(), track=track, group=group)
    if not rows:
        app.note(f"{acct} has no repositories on {forge} that its token can see")
        return
    app.out.print(discover_table(rows))
    new = sum(1 for r in rows if r.get("tracked") == "new")
    waiting = [r for r in rows if r.get("has_ocelot_yml") and r.get("tracked") == "no"]
    if new:
        hooked = sum(1 for r in rows if r.get("tracked") == "new" and r.get("setup") == "webhook")
        how = f" ({hooked} with a webhook, {new - hooked} polled)"
        app.note(f"now tracking {new} new repositor{'y' if new == 1 else 'ies'}{how}")
    elif waiting and not track:
        app.note(f"{len(waiting)} with ocelot.yml not tracked yet: add --track to track them")
