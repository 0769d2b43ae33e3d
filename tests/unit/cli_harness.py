"""The CLI tests' harness: a loopback fake of the REST API and ``ocelot ARGS`` pointed at it
from an empty directory (``server`` and ``run`` fixtures; a test module imports both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ocelot.cli.main import cli
from tests.unit.test_cli_client import FakeServer


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def run(server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``ocelot ARGS`` in an empty directory (no checkout), pointed at the fake server."""
    monkeypatch.chdir(tmp_path)
    env = {
        "OCELOT_URL": server.url,
        "OCELOT_TOKEN": "tok",
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "OCELOT_CONFIG": None,
        "COLUMNS": "80",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke
