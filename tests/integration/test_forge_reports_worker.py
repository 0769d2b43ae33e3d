"""Forge reports through a real worker: a GitHub repository's build reports "pending" then
"success" on its commit to the forge's API (a fake GitHub on loopback), with the account's
token; a plain git repository's build sends no report task at all (nothing to report to)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocelot.db import session_scope
from ocelot.services.credentials import add_credential
from tests.fakes.forge import FakeForge
from tests.stack import Stack, make_repo, own_stack
from tests.waiting import eventually

pytestmark = [pytest.mark.integration]

TOKEN = "ghp_reports0123456789"
YML = """\
machineTag: reports
buildTool: shell
branches: [ALL]
stages:
  - name: s
    script: ["echo hello"]
"""


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    server = FakeForge()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def stack(tmp_path: Path, forge: FakeForge) -> Iterator[Stack]:
    with own_stack(tmp_path, env={"OCELOT_GITHUB_API_URL": forge.url}) as found:
        with session_scope(found.engine) as session:
            add_credential(session, found.settings, "acme", "vcs", "main",
                           {"forge": "github", "token": TOKEN})  # fmt: skip
        found.start_worker("reporter", executor="local", tags=("reports",))
        yield found


def add(stack: Stack, path: Path, name: str, vcs_type: str) -> str:
    make_repo(path, {"ocelot.yml": YML})
    resp = stack.client.post(
        "/api/v1/repos",
        headers=stack.auth,
        json={"full_name": name, "url": str(path), "vcs_type": vcs_type},
    )
    assert resp.status_code == 201, resp.get_json()
    return name


def report_tasks(stack: Stack) -> list[str]:
    log = (stack.root / "worker-reporter.log").read_text(errors="replace")
    return re.findall(r"Task (ocelot\.(?:forge|notify)\.\w+)\[[^]]+\] received", log)


def test_a_github_build_reports_and_a_plain_git_build_sends_no_report_task(
    stack: Stack, forge: FakeForge, tmp_path: Path
) -> None:
    repo = add(stack, tmp_path / "gh", "acme/gh", "github")
    build = stack.wait(stack.build(repo, branch="master"))
    assert build["status"] == "PASSED", build

    path = f"/repos/acme/gh/statuses/{build['hash']}"

    def states() -> list[str]:
        return [str(call.body.get("state")) for call in forge.calls("POST", path)]

    eventually(lambda: states() == ["pending", "success"], 30, "pending, then success")
    assert all(c.headers["Authorization"] == f"Bearer {TOKEN}" for c in forge.calls("POST"))
    assert not forge.calls("POST", "/comments")  # not a pull request: no comment
    sent = report_tasks(stack)
    assert sent.count("ocelot.forge.status") == 2 and "ocelot.forge.comment" not in sent, sent

    before = len(forge.requests), report_tasks(stack)
    plain = add(stack, tmp_path / "plain", "acme/plain", "git")
    other = stack.wait(stack.build(plain, branch="master"))
    assert other["status"] == "PASSED", other
    # the finish step's announcement is dispatched when its task ends: give it that moment
    stack.wait(stack.build(repo, branch="master"))
    eventually(lambda: len(states()) == 4, 30, "the third build's reports")
    after = report_tasks(stack)  # the third build's two, none of the plain build's
    assert after.count("ocelot.forge.status") == before[1].count("ocelot.forge.status") + 2
    assert {r.path for r in forge.requests[before[0] :]} == {path}
