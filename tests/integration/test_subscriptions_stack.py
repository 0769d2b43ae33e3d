"""Upstream → downstream through the real stack: the ``ocelot`` CLI subscribes over real HTTP,
then a build of the library goes through the web → Celery worker → Docker, and its passing
queues the app's build, whose passing queues the site's (A → B → C), each on its own
repository's branch head, each log showing its ``OCELOT_UPSTREAM_*``; a cycle is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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
branches: [ALL]
stages:
  - name: show
    script:
      - echo "trigger=$OCELOT_TRIGGER by=$OCELOT_TRIGGERED_BY"
      - echo "upstream=$OCELOT_UPSTREAM_REPO#$OCELOT_UPSTREAM_BUILD_ID@$OCELOT_UPSTREAM_HASH"
"""


@pytest.fixture
def ocelot(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    monkeypatch.setenv("OCELOT_URL", stack.url)
    monkeypatch.setenv("OCELOT_TOKEN", stack.token)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def downstream_of(stack: Stack, repo: str, worker: Process) -> dict[str, Any]:
    """The one build of ``repo``, once it has ended (an upstream's passing made it)."""

    def builds() -> list[dict[str, Any]]:
        resp = stack.client.get(f"/api/v1/repos/{repo}/builds", headers=stack.auth)
        found: list[dict[str, Any]] = resp.get_json()["builds"]
        return found

    def ended() -> dict[str, Any] | None:
        found = builds()
        return found[0] if found and found[0]["finished_at"] else None

    def what() -> str:  # enough to tell a build never queued from one never run
        seen = [
            {k: b.get(k) for k in ("id", "status", "pending_reason", "attempt", "worker")}
            for b in builds()
        ]
        tail = worker.log.read_text(errors="replace").splitlines()[-40:]
        return f"an ended build of {repo}; its builds: {seen}; the worker's log ends:\n" + (
            "\n".join(tail)
        )

    found: dict[str, Any] = eventually(ended, 120, what)
    return found


def test_a_b_c_through_the_worker_and_docker(
    stack: Stack,
    docker_worker: Process,
    tmp_path: Path,
    ocelot: Callable[..., tuple[int, str, str]],
) -> None:
    lib_sha = make_repo(tmp_path / "lib", {"ocelot.yml": YML})
    app_sha = make_repo(tmp_path / "app", {"ocelot.yml": YML}, branch="main")
    site_sha = make_repo(tmp_path / "site", {"ocelot.yml": YML})
    lib = stack.add_repo(tmp_path / "lib", "chain/lib")
    app = stack.add_repo(tmp_path / "app", "chain/app")
    site = stack.add_repo(tmp_path / "site", "chain/site")

    code, out, err = ocelot("subscribe", app, "--to", lib, "--downstream-branch", "main")
    assert code == 0, err
    assert out.startswith("chain/app (main) is built when chain/lib (master) passes")
    code, _, err = ocelot("subscribe", site, "--to", app, "--branch", "main")
    assert code == 0, err
    code, out, err = ocelot("subscribe", lib, "--to", site)
    assert code == 1
    assert err == (
        "Error: chain/lib cannot subscribe to chain/site: the builds would go round in a "
        "cycle: chain/site → chain/lib → chain/app → chain/site\n"
    )
    code, out, err = ocelot("subscriptions", app)
    assert code == 0, err
    assert len([line for line in out.splitlines() if "chain/" in line]) == 2

    first = stack.build(lib, branch="master")
    assert stack.wait(first)["status"] == "PASSED", stack.logs(first)
    app_build = downstream_of(stack, app, docker_worker)
    assert app_build["status"] == "PASSED", stack.logs(app_build["id"])
    assert (app_build["trigger"], app_build["triggered_by"]) == ("upstream", f"{lib}#{first}")
    assert (app_build["branch"], app_build["hash"]) == ("main", app_sha)
    log = stack.logs(app_build["id"])
    assert f"trigger=upstream by={lib}#{first}" in log
    assert f"upstream={lib}#{first}@{lib_sha}" in log

    site_build = downstream_of(stack, site, docker_worker)
    assert site_build["status"] == "PASSED", stack.logs(site_build["id"])
    assert (site_build["branch"], site_build["hash"]) == ("master", site_sha)
    log = stack.logs(site_build["id"])
    assert f"upstream={app}#{app_build['id']}@{app_sha}" in log

    # the chain ends there: the site's build queued nothing more
    resp = stack.client.get(f"/api/v1/repos/{lib}/builds", headers=stack.auth)
    assert [b["id"] for b in resp.get_json()["builds"]] == [first]

    code, out, err = ocelot("unsubscribe", site, "--to", app, "--branch", "main")
    assert code == 0, err
    assert out == "chain/site is no longer built when chain/app (main) passes\n"
