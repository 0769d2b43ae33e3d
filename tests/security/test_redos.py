"""A repository's ``ocelot.yml`` is attacker-controlled text that a worker runs: a
catastrophic branch pattern must not pin the worker (RE2 matches in linear time), and a
pattern only a backtracking engine can run fails the build before anything runs, naming the
line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.servers import Process
from tests.stack import Stack, git, make_repo

pytestmark = [pytest.mark.docker, pytest.mark.slow]

YML = """\
image: ocelot/busybox
buildTool: shell
branches: ['{pattern}']
stages:
  - name: hello
    script: [echo hello]
"""
# Long enough that a backtracking engine would try 2**240 ways; short enough for git's ref
# files and the 500-character branch column.
LONG = "a" * 240 + "/" + "a" * 239


def test_a_catastrophic_branch_pattern_does_not_pin_the_worker(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    make_repo(repo_dir, {"ocelot.yml": YML.format(pattern="(a+)+b")})
    git("checkout", "-q", "-b", LONG, cwd=repo_dir)
    git("commit", "-q", "--allow-empty", "-m", "long branch", cwd=repo_dir)
    git("checkout", "-q", "-b", "aaab", cwd=repo_dir)
    repo = stack.add_repo(repo_dir)
    started = time.monotonic()
    refused = stack.wait(stack.build(repo, branch=LONG), timeout=60)  # the hang guard
    assert refused["status"] == "SKIPPED", refused
    assert "not in the acceptable branches list: (a+)+b" in refused["failure_reason"]
    # The same worker goes on to build a branch the pattern accepts.
    built = stack.wait(stack.build(repo, branch="aaab"), timeout=90)
    assert built["status"] == "PASSED", (built, stack.logs(built["id"]))
    assert time.monotonic() - started < 150


def test_a_backreference_fails_the_build_before_it_runs_naming_the_line(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    make_repo(repo_dir, {"ocelot.yml": YML.format(pattern="(a)\\1")})
    repo = stack.add_repo(repo_dir)
    build = stack.wait(stack.build(repo, branch="master"), timeout=60)
    assert build["status"] == "FAILED_PRESTART", build
    assert (
        "ocelot.yml:3: branches[0]: pattern '(a)\\\\1' cannot be used: backreferences are not "
        "supported (Ocelot matches in linear time)"
    ) in build["failure_reason"]
    assert all(stage["status"] != "PASSED" for stage in build.get("stages") or [])
