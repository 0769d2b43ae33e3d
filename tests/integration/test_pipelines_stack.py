"""Several pipelines through the real stack: signed GitHub push deliveries naming real commits
→ the web → Celery workers → Docker. The repository holds the app (``ocelot.yml``, which
``depends_on`` the base image) and ``.ocelot/base-image.yml`` (``paths: [Dockerfile.base,
requirements*.txt]``): a change to requirements.txt builds both, in order; a change to app
code builds only the app; a failing base image skips the app, with the reason; and the CLI
filters by pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from ocelot.cli.main import cli
from ocelot.db import session_scope
from ocelot.services.hooks import set_webhook_secret
from tests.fakes.webhooks import body, signed_headers
from tests.servers import Process
from tests.stack import Stack, git, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = "pipelines-webhook-secret-0123456789"

APP = """\
image: ocelot/busybox
buildTool: shell
branches: [master]
depends_on: [base-image]
stages:
  - name: test
    script: ["echo app tests against $(cat requirements.txt)"]
"""

BASE_IMAGE = """\
image: ocelot/busybox
buildTool: shell
branches: [master]
paths: [Dockerfile.base, "requirements*.txt"]
stages:
  - name: image
    script: ["echo building the base image", "{extra}"]
"""


def push(stack: Stack, repo: str, path: Path, before: str, after: str) -> int:
    """Deliver GitHub's push of ``before..after`` (the files git says changed); return the
    event's first build."""
    files = git("diff", "--name-only", before, after, cwd=path).split()
    payload: dict[str, Any] = json.loads(body("github/push.json"))
    commit = {**payload["commits"][0], "id": after, "message": "change", "added": []}
    commit.update(modified=files, removed=[])
    payload.update(ref="refs/heads/master", before=before, after=after, commits=[commit])
    payload["head_commit"] = commit
    payload["repository"] = {**payload["repository"], "full_name": repo}
    data = json.dumps(payload).encode()
    headers = {
        **signed_headers("github/push.json", SECRET, data),
        "Content-Type": "application/json",
    }
    resp = requests.post(f"{stack.url}/hooks/github", data=data, headers=headers, timeout=30)
    assert resp.status_code == 202, resp.text
    return int(resp.json()["build_id"])


def builds_of(stack: Stack, repo: str, commit: str) -> dict[str, dict[str, Any]]:
    resp = stack.client.get(
        f"/api/v1/repos/{repo}/builds", headers=stack.auth, query_string={"hash": commit}
    )
    assert resp.status_code == 200
    return {b["pipeline"]: b for b in resp.get_json()["builds"]}


def settled(stack: Stack, repo: str, commit: str, count: int) -> dict[str, dict[str, Any]]:
    """The event's ``count`` builds once every one has ended."""

    def done() -> dict[str, dict[str, Any]] | None:
        found = builds_of(stack, repo, commit)
        ended = all(b["finished_at"] for b in found.values())
        return found if len(found) == count and ended else None

    return eventually(
        done, 120, lambda: f"{count} ended builds of {commit[:7]}: {builds_of(stack, repo, commit)}"
    )


def test_an_app_and_its_base_image(
    stack: Stack, docker_worker: Process, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "app"
    files = {
        "ocelot.yml": APP,
        ".ocelot/base-image.yml": BASE_IMAGE.format(extra="true"),
        "Dockerfile.base": "FROM ocelot/busybox\n",
        "requirements.txt": "flask\n",
        "src/app.py": "print(1)\n",
    }
    start = make_repo(path, files)
    repo = stack.add_repo(path, "acme/pipelines")
    with session_scope(stack.engine) as session:
        set_webhook_secret(session, stack.settings, repo, SECRET)

    # requirements.txt changed: the base image builds first, then the app, in the same commit
    reqs = make_repo(path, {"requirements.txt": "flask\nrequests\n"}, message="bump")
    first = push(stack, repo, path, start, reqs)
    both = settled(stack, repo, reqs, 2)
    app, image = both["default"], both["base-image"]
    assert app["id"] == first and app["event_id"] == first == image["event_id"]
    assert (app["status"], image["status"]) == ("PASSED", "PASSED"), (app, image)
    assert app["started_at"] >= image["finished_at"]  # it waited for the image
    assert "building the base image" in stack.logs(image["id"])
    assert "app tests against flask requests" in stack.logs(app["id"])

    # only app code changed: only the app builds, at once
    code = make_repo(path, {"src/app.py": "print(2)\n"}, message="app code")
    alone = push(stack, repo, path, reqs, code)
    only = settled(stack, repo, code, 1)
    assert set(only) == {"default"} and only["default"]["id"] == alone
    assert only["default"]["status"] == "PASSED"

    # the base image fails: the app is skipped, and says why
    broken = {
        ".ocelot/base-image.yml": BASE_IMAGE.format(extra="exit 4"),
        "requirements.txt": "flask\nrequests\nbroken\n",
    }
    bad = make_repo(path, broken, message="break the image")
    push(stack, repo, path, code, bad)
    ended = settled(stack, repo, bad, 2)
    image = ended["base-image"]
    assert image["status"] == "FAILED"
    assert (ended["default"]["status"], ended["default"]["failure_reason"]) == (
        "SKIPPED",
        f"not run: pipeline 'base-image' (build #{image['id']}) ended FAILED",
    )

    # the CLI, through real HTTP, filters by pipeline
    monkeypatch.setenv("OCELOT_URL", stack.url)
    monkeypatch.setenv("OCELOT_TOKEN", stack.token)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    summary = CliRunner().invoke(cli, ["summary", repo, "--pipeline", "base-image"])
    assert summary.exit_code == 0, summary.output
    listed = [line.split()[0] for line in summary.stdout.splitlines()[2:] if line.strip()]
    assert listed == [str(image["id"]), str(both["base-image"]["id"])]
    status = CliRunner().invoke(cli, ["status", repo, "--hash", bad, "--pipeline", "default"])
    assert status.exit_code == 0, status.output
    assert "not run: pipeline 'base-image'" in status.stdout
