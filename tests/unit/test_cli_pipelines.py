"""The CLI and pipelines: ``build --pipeline``, ``status --pipeline``, ``summary --pipeline``
and the pipeline column, against the same HTTP test server as tests/unit/test_cli_commands.py."""

from __future__ import annotations

from typing import Any

from tests.unit.test_cli_client import FakeServer
from tests.unit.test_cli_commands import make_build


def test_build_pipeline_sends_it_and_says_so(server: FakeServer, run: Any) -> None:
    queued = make_build(3, "QUEUED", pipeline="base-image", stages=[])
    server.json("POST", "/api/v1/repos/acme/demo/builds", queued, 201)
    result = run("build", "acme/demo", "--branch", "master", "--pipeline", "base-image")
    assert result.exit_code == 0, result.output
    assert "queued build #3 of acme/demo (master @ a1b2c3d) (pipeline base-image)" in (
        result.stdout
    )
    assert server.requests_to("POST", "/api/v1/repos/acme/demo/builds")[0].body == {
        "branch": "master",
        "force": False,
        "pipeline": "base-image",
    }


def test_build_refuses_a_bad_pipeline_name_before_asking_the_server(
    server: FakeServer, run: Any
) -> None:
    result = run("build", "acme/demo", "--branch", "master", "--pipeline", "Base")
    assert result.exit_code == 2
    assert "'Base' is not a pipeline name" in result.stderr
    assert server.seen == []


def test_status_and_summary_filter_and_show_the_pipeline(server: FakeServer, run: Any) -> None:
    image = make_build(7, pipeline="base-image")
    app = make_build(6, pipeline="default")
    server.json("GET", "/api/v1/repos/acme/demo/builds", {"builds": [image, app]})
    listed = run("summary", "acme/demo", "--pipeline", "base-image")
    assert listed.exit_code == 0, listed.output
    assert server.seen[-1].query == {"pipeline": "base-image", "limit": "20"}
    header = listed.stdout.splitlines()[0].split()
    assert header[:3] == ["id", "pipeline", "hash"]
    assert "base-image" in listed.stdout

    shown = run("status", "acme/demo", "--hash", "a1b2", "--pipeline", "base-image")
    assert shown.exit_code == 0, shown.output
    assert server.seen[-1].query["pipeline"] == "base-image"
    assert any(line.split() == ["pipeline", "base-image"] for line in shown.stdout.splitlines())
    both = run("status", "acme/demo", "--build-id", "7", "--pipeline", "x")
    assert both.exit_code == 2 and "not both" in both.stderr


def test_a_repository_with_one_pipeline_gets_no_pipeline_column(
    server: FakeServer, run: Any
) -> None:
    server.json("GET", "/api/v1/repos/acme/demo/builds", {"builds": [make_build(1)]})
    result = run("summary", "acme/demo")
    assert result.exit_code == 0
    assert "pipeline" not in result.stdout.splitlines()[0]


def test_no_builds_of_a_pipeline_says_so(server: FakeServer, run: Any) -> None:
    server.json("GET", "/api/v1/repos/acme/demo/builds", {"builds": []})
    result = run("summary", "acme/demo", "--pipeline", "docs")
    assert "no builds of acme/demo of pipeline docs yet" in result.output
    missing = run("status", "acme/demo", "--pipeline", "docs")
    assert missing.exit_code == 1
    assert "acme/demo has no builds of pipeline docs yet" in missing.stderr
