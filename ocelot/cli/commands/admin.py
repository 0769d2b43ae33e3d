"""``ocelot admin``: server-side tasks run on the server host, against its database.

These read the server environment (``OCELOT_HOME``, ``OCELOT_DATABASE_URL``, ...) through
:func:`ocelot.settings.load_settings`, not the client config, and never call the REST API.
The database modules are imported when a command runs, so client-only commands stay light.

Tokens: ``ocelot admin tokens create NAME --role read|build|admin [--expires 30d]``,
``ocelot admin tokens list`` and ``ocelot admin tokens revoke NAME|ID|PREFIX``;
``ocelot admin create-token NAME`` is the original spelling of ``create`` (role admin unless
``--role`` says otherwise).

Kept containers: ``ocelot admin prune [BUILD_ID]...`` removes what failed builds kept for
debugging (``OCELOT_KEEP_CONTAINERS``) without waiting for ``OCELOT_JANITOR_AGE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich import box
from rich.table import Table
from rich.text import Text

from ocelot.cli.app import App, pass_app
from ocelot.cli.config import ClientConfig
from ocelot.cli.output import DASH, make_console, style_for
from ocelot.status import BuildStatus

ROLES = ("read", "build", "admin")
EXPIRES_HELP = (
    "When the token stops working: a duration from now (30d, 12h, 2w), a date "
    "(2026-12-31, 00:00 UTC) or an ISO 8601 time. Default: never."
)


@click.group("admin")
def admin() -> None:
    """Server-side administration (run on the server host)."""


def _mint(app: App, name: str, role: str, expires: str | None) -> None:
    from ocelot.db import make_engine, session_scope
    from ocelot.services.tokens import issue_token, parse_expiry
    from ocelot.settings import load_settings

    settings = load_settings()
    expires_at = parse_expiry(expires)
    with session_scope(make_engine(settings)) as session:
        row, token = issue_token(session, name, role, expires_at)
        until = f", expires {_when(row.expires_at)} UTC" if row.expires_at else ""
        name = row.name
    click.echo(token)
    app.note(
        f"token {name!r} created (role {role}{until}); it is stored hashed and will not be "
        "shown again (use it as OCELOT_TOKEN or `token:` in ~/.config/ocelot/config.yml)"
    )


@admin.command("create-token")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLES, case_sensitive=False),
    default="admin",
    show_default=True,
    help="What the token may do: read (everything but credentials), build (also queue, "
    "kill, rebuild, approve builds), admin (everything).",
)
@click.option("--expires", metavar="WHEN", help=EXPIRES_HELP)
@pass_app
def create_token(app: App, name: str, role: str, expires: str | None) -> None:
    """Mint an API token called NAME and print it once (same as `admin tokens create`).

    Only its SHA-256 digest is stored, so it cannot be shown again: keep it in
    OCELOT_TOKEN or `token:` of ~/.config/ocelot/config.yml. The token alone goes to
    stdout, so `export OCELOT_TOKEN=$(ocelot admin create-token me)` works.
    """
    _mint(app, name, role.lower(), expires)


@admin.group("tokens")
def tokens() -> None:
    """Create, list and revoke API tokens (roles read, build, admin)."""


@tokens.command("create")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLES, case_sensitive=False),
    required=True,
    help="read: see everything but credentials; build: also queue, kill, rebuild and "
    "approve builds; admin: everything (repositories, webhooks, credentials, tokens).",
)
@click.option("--expires", metavar="WHEN", help=EXPIRES_HELP)
@pass_app
def tokens_create(app: App, name: str, role: str, expires: str | None) -> None:
    """Mint an API token called NAME with a role, and print it once.

    \b
    Examples:
      ocelot admin tokens create dashboard --role read
      ocelot admin tokens create ci-bot --role build --expires 90d
    The token alone goes to stdout; it is stored hashed and cannot be shown again.
    Names are unique among live tokens.
    """
    _mint(app, name, role.lower(), expires)


@tokens.command("list")
@click.option("--live", "live_only", is_flag=True, help="Leave out revoked and expired tokens.")
def tokens_list(live_only: bool) -> None:
    """List API tokens: id, name, prefix, role, state (live, expired, revoked), created,
    last used and expires (UTC).

    The token itself is never shown (only its first characters, the prefix).
    """
    from ocelot.db import make_engine, session_scope
    from ocelot.services.tokens import list_tokens, token_dict
    from ocelot.settings import load_settings

    settings = load_settings()
    with session_scope(make_engine(settings)) as session:
        rows = [token_dict(row) for row in list_tokens(session)]
    if live_only:
        rows = [row for row in rows if row["state"] == "live"]
    console = make_console(ClientConfig(no_color=bool(os.environ.get("NO_COLOR"))))
    if not rows:
        click.echo("no API tokens (mint one with `ocelot admin tokens create NAME --role R`)")
        return
    console.print(tokens_table(rows))


@tokens.command("revoke")
@click.argument("ref", metavar="NAME|ID|PREFIX")
@pass_app
def tokens_revoke(app: App, ref: str) -> None:
    """Revoke a token, named by its name, its id or its prefix (oct_Ab12, from `list`).

    A revoked token is refused (401) from then on; it stays in the list, marked revoked.
    """
    from ocelot.db import make_engine, session_scope
    from ocelot.services.tokens import revoke_token
    from ocelot.settings import load_settings

    settings = load_settings()
    with session_scope(make_engine(settings)) as session:
        done = [(row.id, row.name, row.prefix) for row in revoke_token(session, ref)]
    for token_id, name, prefix in done:
        click.echo(f"revoked token {token_id} {name!r} ({prefix}…)")


@admin.command("migrate")
@pass_app
def migrate(app: App) -> None:
    """Bring the database schema up to date (Alembic migrations to head)."""
    from ocelot.db import migrate as run_migrations
    from ocelot.settings import load_settings

    settings = load_settings()
    run_migrations(settings)
    app.note("database migrated to the latest schema")


@admin.command("prune")
@click.argument("build_ids", metavar="[BUILD_ID]...", nargs=-1, type=int)
@pass_app
def prune(app: App, build_ids: tuple[int, ...]) -> None:
    """Remove the containers that failed builds kept for debugging, now.

    With OCELOT_KEEP_CONTAINERS on, a failed build's container stays (`ocelot status` shows
    how to `docker exec` into it) until OCELOT_JANITOR_AGE after the build; this removes
    every kept one at once, or those of the BUILD_IDs given. It talks to the Docker daemon
    the workers use (DOCKER_HOST, or the local one), with the server's environment.
    """
    from ocelot.db import make_engine
    from ocelot.errors import ExecutorError
    from ocelot.runner.context import RunContext
    from ocelot.runner.leftovers import remove_kept
    from ocelot.settings import load_settings

    settings = load_settings()
    done = remove_kept(RunContext(settings=settings, engine=make_engine(settings)), build_ids)
    for item in done:
        if item.error is None:
            click.echo(f"removed {item.name} (build {item.build_id})")
    if not done:
        app.note("nothing kept to remove")
    failed = [item for item in done if item.error is not None]
    if failed:
        lines = "; ".join(f"{i.name} (build {i.build_id}): {i.error}" for i in failed)
        raise ExecutorError(f"could not remove {len(failed)} kept container(s): {lines}")


def _when(value: Any, *, date_only: bool = False) -> str:
    """An ISO time (or datetime) in UTC as ``2026-12-31 14:05``; ``-`` for none."""
    if value is None or value == "":
        return DASH
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()
    text = str(value).replace("T", " ")
    return text[:10] if date_only else text[:16]


_STATE_STYLE = {
    "live": BuildStatus.PASSED,
    "expired": BuildStatus.SKIPPED,
    "revoked": BuildStatus.KILLED,
}


def tokens_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """One token a row, in 80 columns; times in UTC (expires to the minute, others the day)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=0)
    table.add_column("id", justify="right", no_wrap=True, style=style_for("id"))
    table.add_column("name", overflow="ellipsis", min_width=8)
    table.add_column("prefix", no_wrap=True, style=style_for("hash"))
    table.add_column("role", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("last used", no_wrap=True)
    table.add_column("expires", no_wrap=True)
    for row in rows:
        state = str(row.get("state") or DASH)
        table.add_row(
            Text(str(row.get("id"))),
            Text(str(row.get("name") or DASH)),
            Text(str(row.get("prefix") or DASH)),
            Text(str(row.get("role") or DASH)),
            Text(state, style=style_for(_STATE_STYLE.get(state))),
            Text(_when(row.get("created_at"), date_only=True)),
            Text(_when(row.get("last_used_at"), date_only=True)),
            Text(_when(row.get("expires_at"))),
        )
    return table
