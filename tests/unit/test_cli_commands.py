"""REST commands end to end: click's CliRunner against a real HTTP server on loopback."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ocelot.cli.main import cli
from tests.unit.test_cli_client import FakeServer, Stream, free_port

HASH_A = "a1b2c3d4" + "0" * 32
HASH_B = "a1b2ffff" + "1" * 32


def make_build(
    id: int, status: str = "PASSED", hash: str | None = HASH_A, **extra: Any
) -> dict[str, Any]:
    build = {
        "id": id,
        "repo": "acme/demo",
        "hash": hash,
        "hash_short": hash and hash[:7],
        "branch": "master",
        "tag": None,
        "pr_id": None,
        "status": status,
        "failure_reason": None,
        "trigger": "cli",
        "triggered_by": "alice",
        "forced": False,
        "queue_wait_seconds": 2.0,
        "duration_seconds": 62.0,
        "worker": "w1",
        "message": "fix things",
        "pending_reason": None,
        "stages": [
            {
                "position": 0,
                "name": "build",
                "status": "PASSED",
                "exit_code": 0,
                "duration_seconds": 3.0,
                "messages": [],
            },
            {
                "position": 1,
                "name": "test",
                "status": status,
                "exit_code": 0,
                "duration_seconds": 59.0,
                "messages": ["ran 12 tests"],
            },
        ],
    }
    build.update(extra)
    return build


@pytest.mark.parametrize(
    "args",
    [
        ["status", "acme/demo"],
        ["summary", "acme/demo"],
        ["logs", "acme/demo"],
        ["kill", "acme/demo"],
        ["build", "acme/demo", "--branch", "master"],
        ["repos", "remove", "acme/demo"],
    ],
    ids=lambda a: a[0] if a[0] != "repos" else "repos-remove",
)
def test_an_untracked_repo_fails_the_same_way_everywhere(
    server: FakeServer, run: Any, args: list[str]
) -> None:
    for method in ("GET", "POST", "DELETE"):
        for path in ("/api/v1/repos/acme/demo", "/api/v1/repos/acme/demo/builds"):
            server.error(method, path, 404, "not_tracked", "acme/demo isn't tracked by ocelot")
    result = run(*args)
    assert result.exit_code == 3
    assert result.stderr == "acme/demo isn't tracked by ocelot\n"
    assert result.stdout == ""


def test_status_shows_the_header_and_the_stages(server: FakeServer, run: Any) -> None:
    build = make_build(7, "FAILED", failure_reason="stage test failed (exit 2)")
    build["stages"][1].update(exit_code=2, messages=["[red]not markup[/red]"])
    server.json("GET", "/api/v1/repos/acme/demo/builds", {"builds": [build]})
    result = run("status", "acme/demo")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        "#7",
        "acme/demo",
        "a1b2c3d on master",
        "FAILED",
        "cli by alice",
        "2s",
        "1m02s",
        "w1",
        "stage test failed (exit 2)",
        "[red]not markup[/red]",
    ):
        assert expected in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "\x1b[" not in out
    assert server.seen[0].query == {"limit": "1"}


def test_a_hash_prefix_picks_the_newest_and_names_the_others(server: FakeServer, run: Any) -> None:
    # Deliberately not newest first: the CLI must not depend on the order.
    builds = [make_build(3, hash=HASH_A), make_build(9, hash=HASH_B), make_build(5, hash=HASH_A)]
    server.json("GET", "/api/v1/repos/acme/demo/builds", {"builds": builds})
    result = run("status", "acme/demo", "--hash", "A1B2")
    assert result.exit_code == 0, result.output
    assert "#9" in result.stdout and "a1b2fff" in result.stdout
    assert "a1b2c3d" in result.stderr and "#9" in result.stderr
    assert server.seen[0].query["hash"] == "a1b2"


def test_one_commit_built_twice_is_not_ambiguous(server: FakeServer, run: Any) -> None:
    builds = [make_build(4), make_build(2)]
    server.json("GET", "/api/v1/builds", {"builds": builds})
    result = run("status", "--hash", "a1b2c3")  # no repo, no checkout: across repos
    assert result.exit_code == 0 and "#4" in result.stdout and result.stderr == ""


@pytest.mark.parametrize(("final", "code"), [("PASSED", 0), ("FAILED", 1), ("SKIPPED", 1)])
def test_build_wait_exits_by_the_final_status(
    server: FakeServer, run: Any, final: str, code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ocelot.cli.waiting.POLL_INTERVALS", (0.01,))
    queued = make_build(
        11, "QUEUED", hash=None, branch="wip", stages=[], pending_reason="waiting for a worker"
    )
    reason = None if final == "PASSED" else "branch wip not in the acceptable branches list"
    server.json("POST", "/api/v1/repos/acme/demo/builds", queued, 201)
    server.sequence(
        "GET",
        "/api/v1/builds/11",
        [
            (200, make_build(11, "RUNNING")),
            (200, make_build(11, final, failure_reason=reason)),
        ],
    )
    result = run("build", "acme/demo", "--branch", "wip", "--wait")
    assert result.exit_code == code, result.output
    assert "queued build #11 of acme/demo (wip)" in result.stdout
    assert final in result.stdout
    if reason:
        assert f"build #11 {final}: {reason}" in result.stderr
    assert server.requests_to("POST", "/api/v1/repos/acme/demo/builds")[0].body == {
        "branch": "wip",
        "force": False,
    }


def test_build_inside_a_checkout_uses_origin_branch_and_head(
    server: FakeServer, run: Any, tmp_path: Path
) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "remote", "add", "origin", "git@github.com:acme/demo.git"], cwd=tmp_path, check=True
    )
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout.strip()
    server.json("POST", "/api/v1/repos/acme/demo/builds", make_build(1, "QUEUED"), 201)
    result = run("build")
    assert result.exit_code == 0, result.output
    (seen,) = server.seen
    assert seen.body == {"branch": "main", "hash": head, "force": False}
    # status of HEAD; with no build of HEAD yet, the latest one, and a note saying so
    server.sequence(
        "GET",
        "/api/v1/repos/acme/demo/builds",
        [(200, {"builds": []}), (200, {"builds": [make_build(1)]})],
    )
    status = run("status")
    assert status.exit_code == 0 and "#1" in status.stdout
    assert f"no build of HEAD {head[:7]} yet" in status.stderr
    assert [s.query for s in server.seen[1:]] == [{"hash": head, "limit": "1"}, {"limit": "1"}]


def test_summary_fits_80_columns(server: FakeServer, run: Any) -> None:
    long = make_build(
        12345,
        "FAILED_PRESTART",
        branch="feature/" + "x" * 60,
        trigger="pull_request",
        triggered_by="someone-with-a-long-name",
        duration_seconds=7322.0,
        queue_wait_seconds=None,
    )
    server.json("GET", "/api/v1/repos/acme/demo/builds", {"builds": [long, make_build(1)]})
    result = run("summary", "acme/demo", "--limit", "5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "FAILED_PRESTART" in result.stdout and "2h02m02s" in result.stdout
    assert "12345" in result.stdout
    assert server.seen[0].query == {"limit": "5"}


def _end(out: Stream, status: str) -> None:
    out.event("end", {"status": status})


@pytest.mark.parametrize(("final", "code"), [("PASSED", 0), ("KILLED", 1)])
def test_logs_follow_prints_in_order_and_stops_at_end(
    server: FakeServer, run: Any, final: str, code: int
) -> None:
    def writer(out: Stream) -> None:
        out.send(": keepalive\n\n")
        for seq, text in enumerate(["one\n", "two ", "three\n"], start=1):
            out.event("log", {"seq": seq, "stage": "test", "text": text})
        _end(out, final)
        out.event("log", {"seq": 9, "stage": "test", "text": "after end\n"})
        # The connection stays open: the client must stop at `end`, not at EOF.

    server.json("GET", "/api/v1/builds/7", make_build(7, "RUNNING"))
    server.stream("/api/v1/builds/7/logs", [writer])
    result = run("logs", "--build-id", "7", "--follow")
    assert result.exit_code == code, result.output
    assert result.stdout == "one\ntwo three\n"
    assert final in result.stderr


def test_logs_follow_reconnects_without_repeating(
    server: FakeServer, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ocelot.cli.waiting.RECONNECT_DELAY", 0)

    def broken(out: Stream) -> None:
        out.event("log", {"seq": 1, "stage": None, "text": "one\n"})
        out.send("0\r\n\r\n")  # the body ends without `end` (a proxy timed out)

    def replay(out: Stream) -> None:
        for seq, text in enumerate(["one\n", "two\n"], start=1):
            out.event("log", {"seq": seq, "stage": None, "text": text})
        _end(out, "PASSED")

    server.json("GET", "/api/v1/builds/7", make_build(7, "RUNNING"))
    server.stream("/api/v1/builds/7/logs", [broken, replay])
    result = run("logs", "--build-id", "7", "-f")
    assert result.exit_code == 0, result.output
    assert result.stdout == "one\ntwo\n"
    assert "reconnecting" in result.stderr


def test_logs_prints_plain_text(server: FakeServer, run: Any) -> None:
    server.json("GET", "/api/v1/builds/7", make_build(7))
    server.json("GET", "/api/v1/builds/7/logs", b"line [bold]1[/bold]\n")
    result = run("logs", "--build-id", "7", "--stage", "test")
    assert (result.exit_code, result.stdout) == (0, "line [bold]1[/bold]\n")
    assert server.seen[-1].query == {"stage": "test"}


def test_killing_a_finished_build_is_a_clean_error(server: FakeServer, run: Any) -> None:
    server.json("GET", "/api/v1/builds/3", make_build(3))
    server.error("POST", "/api/v1/builds/3/kill", 409, "conflict", "build 3 has already finished")
    result = run("kill", "--build-id", "3")
    assert (result.exit_code, result.stderr) == (1, "Error: build 3 has already finished\n")


def test_rebuild_queues_and_reports(server: FakeServer, run: Any) -> None:
    server.json("POST", "/api/v1/builds/3/rebuild", make_build(4, "QUEUED"), 201)
    result = run("rebuild", "--build-id", "3")
    assert result.exit_code == 0
    assert "queued build #4 of acme/demo (master @ a1b2c3d) (rebuild of #3)" in result.stdout


def test_repos_add_and_list(server: FakeServer, run: Any) -> None:
    repo = {
        "id": 1,
        "full_name": "acme/demo",
        "url": "https://github.com/acme/demo.git",
        "vcs_type": "github",
        "group": "web",
    }
    server.json("POST", "/api/v1/repos", repo, 201)
    server.json("GET", "/api/v1/repos", {"repos": [repo]})
    added = run(
        "repos", "add", "acme/demo", "--url", repo["url"], "--vcs-type", "GitHub", "--group", "web"
    )
    assert added.exit_code == 0, added.output
    assert server.seen[0].body == {
        "full_name": "acme/demo",
        "url": repo["url"],
        "vcs_type": "github",
        "group": "web",
    }
    listed = run("repos", "list", "--group", "web")
    assert "acme/demo" in listed.stdout and "github" in listed.stdout
    assert server.seen[1].query == {"group": "web"}


def test_a_bad_token_gets_a_hint_and_a_bad_repo_name_is_usage(server: FakeServer, run: Any) -> None:
    server.error("GET", "/api/v1/repos", 401, "unauthorized", "invalid or revoked token")
    result = run("repos", "list")
    assert result.exit_code == 1 and "OCELOT_TOKEN" in result.stderr
    assert run("status", "acme/demo/extra").exit_code == 2
    assert run("repos", "add", "demo", "--url", "x").exit_code == 2  # to track: ACCT/REPO


def test_without_a_repo_or_a_checkout_the_user_is_asked(run: Any) -> None:
    for args in (["status"], ["build", "--branch", "x"], ["logs"]):
        result = run(*args)
        assert result.exit_code == 2
        assert "name the repository as ACCT/REPO (not inside a git checkout)" in result.stderr
    result = run("build", "acme/demo")
    assert result.exit_code == 2 and "--branch B, --hash H or both" in result.stderr


def test_an_unreachable_server_is_one_line_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    env = {"OCELOT_URL": url, "XDG_CONFIG_HOME": str(tmp_path), "OCELOT_CONFIG": None}
    result = CliRunner().invoke(cli, ["summary", "acme/demo"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot reach the ocelot server at {url} ")
    assert len(result.stderr.splitlines()) == 1


# -- a bare REPO name, a positional hash, summary --hash --------------------------------------

REPOS = [
    {"full_name": "acme/demo", "name": "demo"},
    {"full_name": "acme/tools", "name": "tools"},
    {"full_name": "other/tools", "name": "tools"},
]


@pytest.mark.parametrize(
    ("args", "method", "path"),
    [
        (["status", "demo"], "GET", "/api/v1/repos/acme/demo/builds"),
        (["logs", "demo"], "GET", "/api/v1/repos/acme/demo/builds"),
        (["summary", "demo"], "GET", "/api/v1/repos/acme/demo/builds"),
        (["build", "demo", "--branch", "master"], "POST", "/api/v1/repos/acme/demo/builds"),
        (["deliveries", "demo"], "GET", "/api/v1/repos/acme/demo/deliveries"),
        (["repos", "remove", "demo"], "DELETE", "/api/v1/repos/acme/demo"),
    ],
    ids=lambda a: "-".join(a[:2]) if isinstance(a, list) else "",
)
def test_a_bare_repo_name_is_the_one_tracked_repo_of_that_name(
    server: FakeServer, run: Any, args: list[str], method: str, path: str
) -> None:
    server.json("GET", "/api/v1/repos", {"repos": REPOS})
    server.json("GET", "/api/v1/repos/acme/demo/builds", {"builds": [make_build(7)]})
    server.json("GET", "/api/v1/builds/7/logs", b"log\n")
    server.json("POST", "/api/v1/repos/acme/demo/builds", make_build(8, "QUEUED"), 201)
    server.json("GET", "/api/v1/repos/acme/demo/deliveries", {"deliveries": []})
    server.json("DELETE", "/api/v1/repos/acme/demo", None, 204)
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert server.requests_to(method, path), [(s.method, s.path) for s in server.seen]


def test_an_ambiguous_or_unknown_bare_name_is_a_clear_error(server: FakeServer, run: Any) -> None:
    server.json("GET", "/api/v1/repos", {"repos": REPOS})
    result = run("status", "tools")
    assert result.exit_code == 2
    assert "tools is the name of 2 tracked repositories: acme/tools, other/tools" in result.stderr
    assert "ACCT/REPO" in result.stderr
    result = run("summary", "nothing")
    assert (result.exit_code, result.stderr) == (3, "nothing isn't tracked by ocelot\n")


def test_status_takes_a_hash_where_no_repo_has_that_name(server: FakeServer, run: Any) -> None:
    server.json("GET", "/api/v1/repos", {"repos": REPOS})
    server.json("GET", "/api/v1/builds", {"builds": [make_build(4)]})
    result = run("status", "A1B2C3")
    assert result.exit_code == 0, result.output
    assert "#4" in result.stdout
    assert server.requests_to("GET", "/api/v1/builds")[0].query == {"hash": "a1b2c3", "limit": "50"}
    assert run("status", "a1b2c3", "--hash", "a1b2").exit_code == 2


def test_summary_filters_by_hash(server: FakeServer, run: Any) -> None:
    server.json("GET", "/api/v1/repos/acme/demo/builds", {"builds": [make_build(5)]})
    result = run("summary", "acme/demo", "--hash", "A1B2C3")
    assert result.exit_code == 0, result.output
    assert "5" in result.stdout
    assert server.seen[0].query == {"hash": "a1b2c3", "limit": "20"}
    assert run("summary", "acme/demo", "--hash", "xyz").exit_code == 2
