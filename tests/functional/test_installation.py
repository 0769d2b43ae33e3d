"""The installation id is stored once in the database: two spellings of one database's URL
give one id (they gave two when it was a hash of the URL's text), in every process that
reads it, and ``OCELOT_INSTANCE`` still wins."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from ocelot import installation
from ocelot.db import dispose_engines, make_engine, session_scope
from ocelot.executors.docker import DockerExecutor
from ocelot.models import Installation
from ocelot.runner import RunContext
from ocelot.settings import Settings, load_settings


def _other_spelling(url: str, tmp_path: Path) -> str:
    """The same database reached by another URL: a symlinked directory for SQLite,
    ``localhost`` instead of ``127.0.0.1`` for PostgreSQL."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        alias = tmp_path / "alias"
        alias.symlink_to(path.parent, target_is_directory=True)
        return f"sqlite:///{alias / path.name}"
    assert "@127.0.0.1:" in url
    return url.replace("@127.0.0.1:", "@localhost:")


def _settings(base: Settings, url: str, **env: str) -> Settings:
    return load_settings(
        {
            "OCELOT_HOME": str(base.home),
            "OCELOT_DATABASE_URL": url,
            "OCELOT_WORKER_NAME": "w",
            **env,
        }
    )


def test_two_spellings_of_one_database_give_one_installation_id(
    settings: Settings, tmp_path: Path
) -> None:
    other = _settings(settings, _other_spelling(settings.database_url, tmp_path))
    assert other.database_url != settings.database_url
    assert settings.instance == other.instance == ""  # nothing derived from the URL's text

    with session_scope(make_engine(settings)) as session:
        stored = session.scalar(select(Installation.instance))
    assert stored
    first = installation.instance_id(settings, make_engine(settings))
    second = installation.instance_id(other, make_engine(other))
    assert first == second == stored

    # Another process (nothing cached) finds the same id; so does its executor.
    installation.forget()
    dispose_engines()
    ctx = RunContext(settings=other, engine=make_engine(other))
    assert ctx.instance == stored
    executor = ctx.executor
    assert isinstance(executor, DockerExecutor) and executor.instance == stored


def test_ocelot_instance_still_wins(settings: Settings) -> None:
    chosen = _settings(settings, settings.database_url, OCELOT_INSTANCE="mine42")
    assert installation.instance_id(chosen, make_engine(chosen)) == "mine42"
    ctx = RunContext(settings=chosen, engine=make_engine(chosen))
    executor = ctx.executor
    assert isinstance(executor, DockerExecutor) and executor.instance == "mine42"
    # ... and the database's own id is untouched
    assert installation.instance_id(settings, make_engine(settings)) not in ("", "mine42")
