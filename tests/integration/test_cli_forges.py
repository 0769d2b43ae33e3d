"""``ocelot watch --manual`` / ``unwatch`` / ``deliveries`` / ``poll`` through the real CLI,
HTTP server and database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ocelot.cli.main import cli
from tests.fakes.webhooks import body, signed_headers
from tests.stack import Stack, make_repo

Run = Callable[..., tuple[int, str]]


@pytest.fixture
def ocelot(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("OCELOT_URL", stack.url)
    monkeypatch.setenv("OCELOT_TOKEN", stack.token)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return run


def test_watch_manual_then_a_signed_delivery_builds(stack: Stack, ocelot: Run) -> None:
    resp = stack.client.post(
        "/api/v1/repos",
        headers=stack.auth,
        json={"full_name": "binkkatal/sample_app", "url": "/nonexistent", "vcs_type": "github"},
    )
    assert resp.status_code == 201
    code, out = ocelot("watch", "binkkatal/sample_app", "--manual")
    assert code == 0, out
    secret = next(line.split()[-1] for line in out.splitlines() if "secret:" in line)
    hook = stack.client.post(
        "/hooks/github",
        data=body("github/push.json"),
        headers=signed_headers("github/push.json", secret),
    )
    assert hook.status_code == 202
    code, out = ocelot("deliveries", "binkkatal/sample_app")
    assert code == 0 and "accepted" in out and "push" in out
    code, out = ocelot("unwatch", "binkkatal/sample_app")
    assert code == 0 and "not watched" in out  # installed by hand: nothing to remove
    code, out = ocelot("watch", "nobody/nothing", "--manual")
    assert code == 3 and "nobody/nothing isn't tracked by ocelot" in out


def test_poll_set_list_delete(stack: Stack, ocelot: Run, tmp_path: Path) -> None:
    make_repo(tmp_path / "r", {"ocelot.yml": "image: x\n"})
    repo = stack.add_repo(tmp_path / "r")
    code, out = ocelot("poll", repo, "--cron", "*/5 * * * *", "--branches", "main,dev")
    assert code == 0 and "main, dev" in out, out
    code, out = ocelot("poll", "list")
    assert code == 0 and repo in out and "main,dev" in out
    code, out = ocelot("poll", repo, "--cron", "not cron", "--branches", "ALL")
    assert code != 0 and "not a cron expression" in out
    code, out = ocelot("poll", "delete", repo)
    assert code == 0
    code, out = ocelot("poll", "list")
    assert repo not in out
