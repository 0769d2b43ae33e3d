"""The trust boundary through the real CLI and the real HTTP server: an operator sets a
repo's fork policy, scopes a deploy secret, and approves or declines fork pull requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from ocelot.cli.main import cli
from ocelot.db import session_scope
from ocelot.forges.base import sign
from ocelot.services.hooks import set_webhook_secret
from tests.fakes.pull_requests import pull_request
from tests.fakes.webhooks import event_headers
from tests.servers import Process
from tests.stack import Stack, make_repo

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = "cli-trust-webhook-secret-0123456789"
YML = """\
image: ocelot/busybox
buildTool: shell
branches: [master]
stages:
  - name: a
    script: [echo hi]
"""


@pytest.fixture
def ocelot(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OCELOT_URL", stack.url)
    monkeypatch.setenv("OCELOT_TOKEN", stack.token)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout + result.stderr

    return run


def fork_pr(stack: Stack, repo: str, sha: str, number: int) -> int:
    fixture, data = pull_request("github", repo, fork="mallory/app", sha=sha, number=number)
    headers = {**event_headers(fixture), "X-Hub-Signature-256": sign(SECRET, data)}
    resp = requests.post(f"{stack.url}/hooks/github", data=data, headers=headers, timeout=30)
    assert resp.status_code == 202, resp.text
    return int(resp.json()["build_id"])


def test_operator_sets_policy_scopes_a_secret_and_approves_or_declines(
    stack: Stack, docker_worker: Process, tmp_path: Path, ocelot: Any
) -> None:
    sha = make_repo(tmp_path / "repo", {"ocelot.yml": YML})
    repo = stack.add_repo(tmp_path / "repo", "cliacct/app")
    with session_scope(stack.engine) as session:
        set_webhook_secret(session, stack.settings, repo, SECRET)

    code, out = ocelot("repos", "set", repo, "--untrusted-prs", "all")
    assert code == 0 and f"{repo}: fork_prs=approve untrusted_prs=all" in out, out
    code, out = ocelot("repos", "set", repo)
    assert code == 2 and "nothing to change" in out

    code, out = ocelot(
        "creds", "env", "add", "cliacct", "DEPLOY_KEY", "--value", "deploy-value-1",
        "--events", "push,tag", "--branches", "master,release/*",
    )  # fmt: skip
    assert code == 0, out
    code, out = ocelot("creds", "env", "list", "cliacct")
    assert code == 0 and "push,tag on master,release/*" in out, out
    code, out = ocelot(
        "creds", "env", "add", "cliacct", "OTHER", "--value", "x-value-1", "--events", "merge"
    )
    assert code == 1 and "unknown event(s) merge" in out

    held = fork_pr(stack, repo, sha, 1)
    code, out = ocelot("status", "--build-id", str(held))
    assert code == 0 and "PENDING_APPROVAL" in out and "untrusted: pull request #1" in out, out
    assert f"ocelot approve {held}" in out

    code, out = ocelot("decline", str(held))
    assert code == 0 and "DECLINED" in out and "declined by integration" in out, out
    code, out = ocelot("approve", str(held))
    assert code == 1 and "not waiting for approval (DECLINED)" in out, out

    second = fork_pr(stack, repo, sha, 2)
    code, out = ocelot("approve", str(second), "--wait")
    assert code == 0, out
    assert "PASSED" in out and "approved by integration" in out and "no credentials" in out
