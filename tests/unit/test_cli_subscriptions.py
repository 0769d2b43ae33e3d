"""``ocelot subscribe`` / ``unsubscribe`` / ``subscriptions`` end to end: click's CliRunner
against a real HTTP server on loopback that answers ``/api/v1/subscriptions`` the way the
server does (its bodies and its errors)."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.test_cli_client import FakeServer

PATH = "/api/v1/subscriptions"


def make_sub(
    id: int, downstream: str = "acme/app", upstream: str = "acme/lib", **extra: Any
) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "id": id,
        "downstream": downstream,
        "downstream_branch": "master",
        "upstream": upstream,
        "upstream_branch": "master",
        "created_by": "alice",
        "created_at": "2026-11-30T10:00:00Z",
    }
    sub.update(extra)
    return sub


def test_subscribe_sends_the_branches_and_says_what_will_happen(
    server: FakeServer, run: Any
) -> None:
    answer = make_sub(3, downstream_branch="main", upstream_branch="develop")
    server.json("POST", PATH, answer, 201)
    result = run(
        "subscribe", "acme/app", "--to", "acme/lib", "--branch", "develop",
        "--downstream-branch", "main",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "acme/app (main) is built when acme/lib (develop) passes (subscription 3)\n"
    )
    (seen,) = server.requests_to("POST", PATH)
    assert seen.body == {
        "downstream": "acme/app",
        "upstream": "acme/lib",
        "upstream_branch": "develop",
        "downstream_branch": "main",
    }


def test_subscribe_without_branches_leaves_the_defaults_to_the_server(
    server: FakeServer, run: Any
) -> None:
    server.json("POST", PATH, make_sub(1), 201)
    result = run("subscribe", "acme/app", "--to", "acme/lib")
    assert result.exit_code == 0, result.output
    assert "acme/app (master) is built when acme/lib (master) passes" in result.stdout
    assert server.requests_to("POST", PATH)[0].body == {
        "downstream": "acme/app",
        "upstream": "acme/lib",
    }


def test_a_cycle_is_an_error_with_its_path_and_exit_code_1(server: FakeServer, run: Any) -> None:
    message = (
        "acme/lib cannot subscribe to acme/app: the builds would go round in a cycle: "
        "acme/app → acme/lib → acme/app"
    )
    server.json(
        "POST",
        PATH,
        {"error": {"code": "subscription_cycle", "message": message, "cycle": ["a", "b", "a"]}},
        409,
    )
    result = run("subscribe", "acme/lib", "--to", "acme/app")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""


def test_an_untracked_upstream_isnt_tracked_by_ocelot(server: FakeServer, run: Any) -> None:
    body = {
        "error": {
            "code": "not_tracked",
            "message": "acme/ghost isn't tracked by ocelot",
            "repo": "acme/ghost",
        }
    }
    server.json("POST", PATH, body, 404)
    result = run("subscribe", "acme/app", "--to", "acme/ghost")
    assert result.exit_code == 3
    assert result.stderr == "acme/ghost isn't tracked by ocelot\n"


def test_subscribe_needs_to(run: Any) -> None:
    result = run("subscribe", "acme/app")
    assert result.exit_code == 2
    assert "Missing option '--to'" in result.stderr


def test_unsubscribe_finds_the_subscription_and_deletes_it(server: FakeServer, run: Any) -> None:
    server.json("GET", PATH, {"subscriptions": [make_sub(5)]})
    server.json("DELETE", f"{PATH}/5", None, 204)
    result = run("unsubscribe", "acme/app", "--to", "acme/lib")
    assert result.exit_code == 0, result.output
    assert result.stdout == "acme/app is no longer built when acme/lib (master) passes\n"
    (seen,) = server.requests_to("GET", PATH)
    assert seen.query == {"downstream": "acme/app", "upstream": "acme/lib"}
    assert len(server.requests_to("DELETE", f"{PATH}/5")) == 1


def test_unsubscribe_asks_for_the_branch_when_there_are_several(
    server: FakeServer, run: Any
) -> None:
    subs = [make_sub(5), make_sub(6, upstream_branch="develop")]
    server.json("GET", PATH, {"subscriptions": subs})
    result = run("unsubscribe", "acme/app", "--to", "acme/lib")
    assert result.exit_code == 2
    assert "several branches (master, develop): say which with --branch" in result.stderr
    assert server.requests_to("DELETE", f"{PATH}/5") == []


def test_unsubscribe_from_nothing_is_an_error(server: FakeServer, run: Any) -> None:
    server.json("GET", PATH, {"subscriptions": []})
    result = run("unsubscribe", "acme/app", "--to", "acme/lib", "--branch", "develop")
    assert result.exit_code == 1
    assert result.stderr == "Error: acme/app does not subscribe to acme/lib (branch develop)\n"
    assert server.requests_to("GET", PATH)[0].query["upstream_branch"] == "develop"


def test_subscriptions_is_a_table_in_80_columns(server: FakeServer, run: Any) -> None:
    subs = [
        make_sub(1),
        make_sub(2, "acme/site", "acme/app", upstream_branch="main", created_by=None),
    ]
    server.json("GET", PATH, {"subscriptions": subs})
    result = run("subscriptions")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    header = lines[0].split()
    assert header == ["id", "builds", "branch", "when", "passes", "by", "since"]
    assert lines[2].split() == [
        "1", "acme/app", "master", "acme/lib", "master", "alice", "2026-11-30",
    ]  # fmt: skip
    assert lines[3].split() == ["2", "acme/site", "master", "acme/app", "main", "-", "2026-11-30"]


def test_subscriptions_of_a_repo_and_as_json(server: FakeServer, run: Any) -> None:
    server.json("GET", PATH, {"subscriptions": [make_sub(1)]})
    result = run("subscriptions", "acme/lib", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"subscriptions": [make_sub(1)]}
    assert server.requests_to("GET", PATH)[0].query == {"repo": "acme/lib"}


def test_no_subscriptions_is_said_on_stderr(server: FakeServer, run: Any) -> None:
    server.json("GET", PATH, {"subscriptions": []})
    result = run("subscriptions")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no subscriptions (add one with `ocelot subscribe" in result.stderr
