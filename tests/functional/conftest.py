"""Functional tier: the Flask app and services against a real, migrated database
(SQLite and PostgreSQL), with a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from ocelot.db import dispose_engines, make_engine, migrate, session_scope
from ocelot.services.tokens import create_token
from ocelot.settings import Settings, load_settings
from tests.functional.runner_support import Runner, runner_for
from tests.servers import RedisServer
from web import create_app


@pytest.fixture
def settings(tmp_path: Path, db_url: str, redis_server: RedisServer) -> Iterator[Settings]:
    s = load_settings(
        {
            "OCELOT_HOME": str(tmp_path / "home"),
            "OCELOT_DATABASE_URL": db_url,
            "OCELOT_BROKER_URL": redis_server.url,
        }
    )
    migrate(s)
    yield s
    dispose_engines()


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return make_engine(settings)


@pytest.fixture
def app(settings: Settings) -> Flask:
    app = create_app(settings)
    app.testing = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def token(engine: Engine) -> str:
    with session_scope(engine) as session:
        return create_token(session, "tester")


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def runner(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[Runner]:
    """The runner's steps with the scripted executor (tests/functional/runner_support.py)."""
    yield from runner_for(settings, engine, tmp_path)
