"""An outsider opens pull requests from a fork against a tracked repository.

Everything goes through the real HTTP server (signed webhook deliveries, REST), a real Celery
worker and Docker. The fork's ocelot.yml tries to print the account's canary secret, plain and
base64, read the ssh keys, pick a worker host with ``machineTag`` and make the server email
an address of its choosing. None of it may work: the build waits for approval, runs without
any credential, is refused a host, and its ``notify`` block is ignored.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from ocelot.db import session_scope
from ocelot.forges.base import sign
from ocelot.services.hooks import set_webhook_secret
from ocelot.services.tokens import create_token
from tests.fakes.pull_requests import pull_request
from tests.fakes.webhooks import event_headers
from tests.servers import Process
from tests.stack import Stack, git, make_repo

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOOK_SECRET = "fork-test-webhook-secret-0123456789"
CANARY = "canary-7f3a9c2e51d04b"
KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "Zm9ya3Rlc3RrZXlmb3JrdGVzdGtleWZvcmt0ZXN0\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
BASE_YML = """\
image: ocelot/busybox
buildTool: shell
branches: [master]
stages:
  - name: check
    script: [echo base]
"""


def evil_yml(where: str = "image: ocelot/busybox\n") -> str:
    script = [
        'echo "b64=$(printf %s "$CANARY" | base64)"',
        'echo "plain=$CANARY"',
        "env | sort",
        "cat ~/.ssh/id_* 2>/dev/null || echo no-ssh-key",
        "cat ~/.m2/settings.xml 2>/dev/null || echo no-maven-settings",
        'test -n "$CANARY" && echo HAS-CANARY || echo no-canary',
    ]
    lines = "".join(f"      - {json.dumps(line)}\n" for line in script)
    return (
        f"{where}buildTool: maven\nbranches: [master]\n"
        "notify:\n  email:\n    to: [attacker@evil.example]\n    on: [PASS, FAIL]\n"
        f"stages:\n  - name: steal\n    script:\n{lines}"
    )


def api(stack: Stack, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(
        method, f"{stack.url}/api/v1{path}", headers=stack.auth, timeout=30, **kw
    )


def setup_repo(stack: Stack, root: Path, name: str, fork_yml: str, number: int) -> tuple[str, str]:
    """A tracked repo whose master is benign and whose ``refs/pull/N/head`` (as GitHub keeps
    a fork's PR head in the base repository) holds the fork's commit; returns (name, sha)."""
    make_repo(root, {"ocelot.yml": BASE_YML})
    sha = make_repo(root, {"ocelot.yml": fork_yml}, branch="feature", message="harmless change")
    git("update-ref", f"refs/pull/{number}/head", sha, cwd=root)
    git("checkout", "-q", "master", cwd=root)
    git("branch", "-q", "-D", "feature", cwd=root)
    repo = stack.add_repo(root, name)
    with session_scope(stack.engine) as session:
        set_webhook_secret(session, stack.settings, repo, HOOK_SECRET)
    acct = repo.split("/")[0]
    for ctype, body in (
        ("env", {"acct": acct, "identifier": "CANARY", "value": CANARY}),
        ("ssh", {"acct": acct, "identifier": "deploy", "private_key": KEY}),
        ("repo", {"acct": acct, "identifier": "nexus", "repo_type": "maven",
                  "url": "http://127.0.0.1:1/nx", "username": "ci", "password": CANARY + "-mvn"}),
    ):  # fmt: skip
        resp = api(stack, "POST", f"/creds/{ctype}", json=body)
        assert resp.status_code in (200, 201), resp.text
    return repo, sha


def deliver(stack: Stack, repo: str, sha: str, number: int, fork: str | None) -> dict[str, Any]:
    fixture, data = pull_request("github", repo, fork=fork, sha=sha, number=number)
    headers = {
        **event_headers(fixture),
        "X-Hub-Signature-256": sign(HOOK_SECRET, data),
        "Content-Type": "application/json",
    }
    resp = requests.post(f"{stack.url}/hooks/github", data=data, headers=headers, timeout=30)
    assert resp.status_code == 202, resp.text
    return dict(resp.json())


def token(stack: Stack, name: str, role: str) -> dict[str, str]:
    with session_scope(stack.engine) as session:
        return {"Authorization": f"Bearer {create_token(session, name, role=role)}"}


def assert_no_secret(log: str) -> None:
    b64 = base64.b64encode(CANARY.encode()).decode()
    assert CANARY not in log and b64 not in log
    assert "-mvn" not in log and "Zm9ya3Rlc3Rr" not in log


def test_fork_pr_is_held_then_runs_without_any_credential_and_notifies_nobody(
    stack: Stack, docker_worker: Process, tmp_path: Path
) -> None:
    repo, sha = setup_repo(stack, tmp_path / "repo", "forkacct/app", evil_yml(), number=7)
    answer = deliver(stack, repo, sha, 7, fork="evil/app")
    build_id = answer["build_id"]
    assert answer["held_for_approval"] == [build_id]

    time.sleep(3)  # a worker is running: nothing may pick the build up before approval
    held = api(stack, "GET", f"/builds/{build_id}").json()
    assert held["status"] == "PENDING_APPROVAL", held
    assert held["trusted"] is False and "evil/app" in held["trust_reason"]
    assert f"ocelot approve {build_id}" in held["pending_reason"]
    assert stack.logs(build_id) == ""

    reader, builder = (
        token(stack, f"{role}-{uuid.uuid4().hex[:8]}", role) for role in ("read", "build")
    )
    refused = requests.post(
        f"{stack.url}/api/v1/builds/{build_id}/approve", headers=reader, timeout=30
    )
    assert refused.status_code == 403 and refused.json()["error"]["required_role"] == "build"
    approved = requests.post(
        f"{stack.url}/api/v1/builds/{build_id}/approve", headers=builder, timeout=30
    )
    assert approved.status_code == 200, approved.text
    build = stack.wait(build_id)
    log = stack.logs(build_id)
    assert build["status"] == "PASSED", (build, log)
    assert build["approved_by"].startswith("build-")
    assert_no_secret(log)
    assert "plain=\n" in log or "plain=" in log.splitlines()
    assert "no-canary" in log and "HAS-CANARY" not in log
    assert "no-ssh-key" in log and "no-maven-settings" in log

    time.sleep(3)  # finish enqueued the notices: the fork's notify block must name nobody
    assert api(stack, "GET", f"/builds/{build_id}").json()["notifications"] == []


def test_same_repository_pr_is_trusted_and_gets_the_secret_masked(
    stack: Stack, docker_worker: Process, tmp_path: Path
) -> None:
    repo, sha = setup_repo(stack, tmp_path / "repo", "trustacct/app", evil_yml(), number=8)
    answer = deliver(stack, repo, sha, 8, fork=None)
    assert "held_for_approval" not in answer
    build = stack.wait(answer["build_id"])
    log = stack.logs(answer["build_id"])
    assert build["status"] == "PASSED" and build["trusted"] is True, (build, log)
    # the control: every kind of credential does arrive in a trusted build (masked in logs)
    assert "HAS-CANARY" in log and "plain=*****" in log
    assert "no-ssh-key" not in log and "<id>nexus</id>" in log
    assert CANARY not in log


def test_fork_pr_naming_a_machine_tag_is_refused_a_host(
    stack: Stack, docker_worker: Process, tmp_path: Path
) -> None:
    repo, sha = setup_repo(
        stack, tmp_path / "repo", "tagacct/app", evil_yml("machineTag: trusted-host\n"), number=9
    )
    resp = api(stack, "PATCH", f"/repos/{repo}", json={"fork_prs": "run"})
    assert resp.status_code == 200, resp.text
    answer = deliver(stack, repo, sha, 9, fork="evil/app")
    assert "held_for_approval" not in answer  # fork_prs=run: no approval needed
    build = stack.wait(answer["build_id"])
    assert build["status"] == "FAILED_PRESTART", build
    assert "machineTag 'trusted-host' refused" in build["failure_reason"]
    assert "untrusted" in build["failure_reason"]
    assert build["worker"] is None and stack.logs(answer["build_id"]) == ""
