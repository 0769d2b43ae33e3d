"""``ocelot watch`` / ``ocelot unwatch`` / ``ocelot deliveries``: a repository's webhook."""

from __future__ import annotations

import click

from ocelot.cli.app import REPO, App, pass_app


@click.command("watch")
@click.argument("repo", type=REPO, metavar="ACCT/REPO")
@click.option(
    "--manual",
    is_flag=True,
    help="Do not call the forge: print the hook URL and secret to configure by hand.",
)
@pass_app
def watch(app: App, repo: str, manual: bool) -> None:
    """Install the forge webhook of ACCT/REPO, signed with a fresh secret.

    The repository must be tracked (`ocelot repos add ... --vcs-type github|gitlab|bitbucket`)
    and, unless --manual, its account needs a vcs token (`ocelot creds vcs add`) and its
    default branch an ocelot.yml (checked through the forge first). Webhook deliveries are
    accepted only when signed with this secret.
    """
    result = app.client.watch(repo, install=not manual)
    if result.get("installed"):
        click.echo(f"webhook {result.get('hook_id')} installed on {repo} → {result['hook_url']}")
        return
    click.echo(f"configure the webhook of {repo} at {result['forge']} by hand:")
    click.echo(f"  URL:          {result['hook_url']}")
    click.echo("  content type: application/json")
    click.echo(f"  secret:       {result['secret']}")
    app.note("the secret is shown this time only when you ask for it with --manual")


@click.command("unwatch")
@click.argument("repo", type=REPO, metavar="ACCT/REPO")
@pass_app
def unwatch(app: App, repo: str) -> None:
    """Remove the webhook Ocelot installed on ACCT/REPO and forget its secret."""
    result = app.client.unwatch(repo)
    removed = result.get("removed_hook_id")
    click.echo(f"webhook {removed} removed from {repo}" if removed else f"{repo} is not watched")


@click.command("deliveries")
@click.argument("repo", type=REPO, metavar="ACCT/REPO")
@click.option("--limit", "-n", default=20, show_default=True, help="How many, newest first.")
@pass_app
def deliveries(app: App, repo: str, limit: int) -> None:
    """Webhook deliveries of ACCT/REPO: why each did or did not build."""
    rows = app.client.deliveries(repo, limit)
    if not rows:
        app.note(f"no webhook deliveries for {repo} yet")
    for row in rows:
        build = f" build {row['build_id']}" if row.get("build_id") else ""
        click.echo(
            f"{row['received_at']}  {row['status_code']}  {row['verdict']:<9} "
            f"{row.get('event') or '-'}{build}: {row.get('reason') or ''}"
        )
