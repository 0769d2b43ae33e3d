"""``ocelot workers`` end to end: click's CliRunner against a real HTTP server on loopback that
answers ``GET /api/v1/workers`` (the shape the server's registry sends)."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.test_cli_client import FakeServer


def make_worker(name: str, state: str = "alive", **extra: Any) -> dict[str, Any]:
    worker = {
        "name": name,
        "host": f"{name}.example.com",
        "executor": "docker",
        "tags": [],
        "capacity": 2,
        "version": "0.1.0",
        "boot_id": "f" * 32,
        "pid": 4242,
        "heartbeat_seconds": 5.0,
        "started_at": "2026-11-29T09:00:00Z",
        "last_seen_at": "2026-11-29T10:00:00Z",
        "stopped_at": None,
        "last_seen_seconds": 1.2,
        "state": state,
        "running": [],
    }
    worker.update(extra)
    return worker


WORKERS = [
    make_worker("build-a", running=[7, 12]),
    make_worker("mac-1", "lost", executor="local", tags=["mac", "arm"], last_seen_seconds=95.0),
    make_worker("old", "stopped", capacity=4, last_seen_seconds=7300.0),
]


def test_workers_table_has_a_row_per_worker_in_80_columns(server: FakeServer, run: Any) -> None:
    server.json("GET", "/api/v1/workers", {"workers": WORKERS})
    result = run("workers")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header == ["name", "host", "executor", "tags", "capacity", "running", "last", "seen",
                      "state"]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[2:] if line.strip()}
    assert set(rows) >= {"build-a", "mac-1", "old"}
    assert "2: #7 #12" in result.stdout and "1.2s ago" in rows["build-a"]
    assert rows["build-a"].rstrip().endswith("alive")
    assert "mac,arm" in result.stdout and "1m35s ago" in result.stdout
    assert rows["mac-1"].rstrip().endswith("lost") and " local " in rows["mac-1"]
    assert rows["old"].rstrip().endswith("stopped") and "2h01m40s ago" in rows["old"]
    assert max(len(line) for line in lines) <= 80
    assert "\x1b[" not in result.stdout
    assert server.seen[0].headers.get("Authorization") == "Bearer tok"


def test_workers_json_is_what_the_server_sent(server: FakeServer, run: Any) -> None:
    server.json("GET", "/api/v1/workers", {"workers": WORKERS})
    result = run("workers", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"workers": WORKERS}


def test_no_workers_is_said_on_stderr(server: FakeServer, run: Any) -> None:
    server.json("GET", "/api/v1/workers", {"workers": []})
    result = run("workers")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no worker has registered yet" in result.stderr


def test_a_token_too_small_is_an_error(server: FakeServer, run: Any) -> None:
    server.error("GET", "/api/v1/workers", 401, "unauthorized", "invalid or revoked token")
    result = run("workers")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: invalid or revoked token")
