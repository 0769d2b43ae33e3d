"""The newcomer's walk-through, through the real CLI → real HTTP → real worker → Docker."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ocelot.cli.main import cli
from tests.servers import Process
from tests.stack import Stack, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

YML = """\
image: ocelot/busybox
buildTool: shell
branches: [master]
stages:
  - name: greet
    script: ["echo hello-from-cli"]
  - name: slow
    script: ["echo tick-1", "sleep $NAP", "echo tick-2"]
    env: ["NAP=0"]
"""


@pytest.fixture
def ocelot(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OCELOT_URL", stack.url)
    monkeypatch.setenv("OCELOT_TOKEN", stack.token)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_walkthrough(stack: Stack, docker_worker: Process, tmp_path: Path, ocelot, monkeypatch):
    origin = tmp_path / "acme" / "walk"
    commit = make_repo(origin, {"ocelot.yml": YML})
    code, out, err = ocelot("repos", "add", "acme/walk", "--url", str(origin))
    assert code == 0, err
    code, out, err = ocelot("repos", "list")
    assert "acme/walk" in out

    code, out, err = ocelot("build", "acme/walk", "--branch", "master", "--wait")
    assert code == 0, (out, err)
    assert "PASSED" in out + err
    build_id = re.search(r"build #(\d+)", out + err)
    assert build_id, out + err

    code, out, err = ocelot("status", "acme/walk")
    assert code == 0, err
    assert "greet" in out and "slow" in out and "PASSED" in out and commit[:7] in out

    code, out, err = ocelot("summary", "acme/walk")
    assert code == 0 and commit[:7] in out and "master" in out
    assert max(len(line) for line in out.splitlines()) <= 80

    code, out, err = ocelot("logs", "--build-id", build_id.group(1))
    assert code == 0 and "hello-from-cli" in out and "tick-2" in out

    # Inside a checkout, the repo and the hash come from origin and HEAD.
    checkout = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(origin), str(checkout)], check=True)
    monkeypatch.chdir(checkout)
    code, out, err = ocelot("status")
    assert code == 0 and commit[:7] in out, (out, err)
    code, out, err = ocelot("status", "--hash", commit[:6])
    assert code == 0 and commit[:7] in out


def test_logs_follow_streams_a_running_build_to_its_end(
    stack: Stack, docker_worker: Process, tmp_path: Path, ocelot
) -> None:
    origin = tmp_path / "acme" / "follow"
    make_repo(origin, {"ocelot.yml": YML.replace("NAP=0", "NAP=3")})
    assert ocelot("repos", "add", "acme/follow", "--url", str(origin))[0] == 0
    build_id = stack.build("acme/follow", branch="master")
    eventually(lambda: stack.get(build_id)["status"] != "QUEUED", 60, "the build to start")
    code, out, err = ocelot("logs", "--build-id", str(build_id), "--follow")
    assert code == 0, err
    assert out.index("hello-from-cli") < out.index("tick-1") < out.index("tick-2")
    assert out.count("tick-2") == 1
    assert stack.get(build_id)["status"] == "PASSED"


def test_untracked_repo_is_exit_3_on_every_command(stack: Stack, ocelot) -> None:
    for args in (
        ["status", "ghost/repo"],
        ["summary", "ghost/repo"],
        ["build", "ghost/repo", "--branch", "master"],
        ["logs", "ghost/repo"],
        ["repos", "remove", "ghost/repo"],
    ):
        code, out, err = ocelot(*args)
        assert code == 3, (args, out, err)
        assert err.strip() == "ghost/repo isn't tracked by ocelot", (args, err)


def test_refused_branch_says_why(stack: Stack, docker_worker: Process, tmp_path: Path, ocelot):
    origin = tmp_path / "acme" / "refuse"
    make_repo(origin, {"ocelot.yml": YML}, branch="feature")
    assert ocelot("repos", "add", "acme/refuse", "--url", str(origin))[0] == 0
    code, out, err = ocelot("build", "acme/refuse", "--branch", "feature", "--wait")
    assert code == 1
    assert "branch feature not in the acceptable branches list: master" in out + err
    code, out, err = ocelot("build", "acme/refuse", "--branch", "feature", "--force", "--wait")
    assert code == 0, (out, err)
