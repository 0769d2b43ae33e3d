"""``ocelot admin``: server-side tasks run on the server host, against its database.

These read the server environment (``OCELOT_HOME``, ``OCELOT_DATABASE_URL``, ...) through
:func:`ocelot.settings.load_settings`, not the client config, and never call the REST API.
The database modules are imported when a command runs, so client-only commands stay light.
"""

from __future__ import annotations

import click

from ocelot.cli.app import App, pass_app


@click.group("admin")
def admin() -> None:
    """Server-side administration (run on the server host)."""


@admin.command("create-token")
@click.argument("name")
@pass_app
def create_token(app: App, name: str) -> None:
    """Mint an API token called NAME and print it once.

    Only its SHA-256 digest is stored, so it cannot be shown again: keep it in
    OCELOT_TOKEN or `token:` of ~/.config/ocelot/config.yml. The token alone goes to
    stdout, so `export OCELOT_TOKEN=$(ocelot admin create-token me)` works.
    """
    from ocelot.db import make_engine, session_scope
    from ocelot.services.tokens import create_token as mint
    from ocelot.settings import load_settings

    settings = load_settings()
    with session_scope(make_engine(settings)) as session:
        token = mint(session, name)
    click.echo(token)
    app.note(
        f"token {name!r} created; it is stored hashed and will not be shown again "
        "(use it as OCELOT_TOKEN or `token:` in ~/.config/ocelot/config.yml)"
    )


@admin.command("migrate")
@pass_app
def migrate(app: App) -> None:
    """Bring the database schema up to date (Alembic migrations to head)."""
    from ocelot.db import migrate as run_migrations
    from ocelot.settings import load_settings

    settings = load_settings()
    run_migrations(settings)
    app.note("database migrated to the latest schema")
