"""Image stages in real builds: the worker builds from the workspace through the Docker API,
pushes to the password-protected ``docker-registry`` on loopback and records the digests;
a later stage runs in the image; an unchanged Dockerfile and context is reused; a fork's
pull request builds but does not push; a secret build argument is masked; a kill ends a
long image build. Real Redis, Celery worker, Docker daemon and registry."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from ocelot.cli.config import ClientConfig
from ocelot.cli.output import build_header, make_console
from tests.conftest import require
from tests.functional.test_dashboard import sign_in
from tests.integration.test_secrets_build import REGISTRY_BIN, Registry
from tests.servers import Process
from tests.stack import Stack, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

USER, PASSWORD = "ci", "image-pass-5"
SECRET = "build-arg-secret-8c1d"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    require(os.path.exists(REGISTRY_BIN), "docker-registry is not installed")
    require(shutil.which("htpasswd") is not None, "htpasswd is not installed (apache2-utils)")
    reg = Registry(tmp_path_factory.mktemp("image-registry"), USER, PASSWORD)
    yield reg
    reg.stop()
    remove_images_built_here(reg.host)


OUR_ACCOUNTS = ("imgacct/", "reuseacct/", "killimg/", "forkimg/")


def remove_images_built_here(registry_host: str) -> None:
    """Leave the daemon as these tests found it: every image they built (labelled with the
    build that made it) or tagged for their registry goes."""
    client = docker.from_env()
    for image in client.images.list(filters={"label": "ocelot.built_by"}):
        made_by = str(image.labels.get("ocelot.built_by", ""))
        if not made_by.startswith(OUR_ACCOUNTS):
            continue  # another Ocelot's image on this daemon
        tags = image.tags or []
        if tags and not all(t.startswith((f"{registry_host}/", "local/app:")) for t in tags):
            continue  # also tagged for something else: not ours alone
        try:
            client.images.remove(image.id, force=True)
        except docker.errors.APIError:
            pass  # in use by a container another test still has, or already gone


def add_cred(stack: Stack, ctype: str, body: dict[str, str]) -> None:
    resp = stack.client.post(f"/api/v1/creds/{ctype}", headers=stack.auth, json=body)
    assert resp.status_code in (200, 201), resp.get_json()


def push_login(stack: Stack, registry: Registry, acct: str) -> None:
    add_cred(stack, "repo", {"acct": acct, "identifier": "reg", "repo_type": "docker",
                             "url": registry.host, "username": USER, "password": PASSWORD,
                             "overwrite": "true"})  # fmt: skip


def pipeline(stages: list[dict[str, Any]]) -> str:
    """An ocelot.yml (JSON is YAML) with ``stages``."""
    config = {"image": "ocelot/busybox", "buildTool": "docker", "branches": ["ALL"]}
    return json.dumps({**config, "stages": stages}, indent=1)


def registry_tags(registry: Registry, name: str) -> list[str]:
    resp = requests.get(
        f"http://{registry.host}/v2/{name}/tags/list", auth=(USER, PASSWORD), timeout=10
    )
    return list(resp.json().get("tags") or []) if resp.status_code == 200 else []


def remove_images(*references: str) -> None:
    client = docker.from_env()
    for reference in references:
        try:
            client.images.remove(reference, force=True)
        except docker.errors.ImageNotFound:
            pass


DOCKERFILE = (
    "FROM ocelot/busybox\n"
    "ARG VERSION\nARG TOKEN\nARG NONCE\n"
    "COPY . /app\n"
    'RUN echo "version=$VERSION" > /app/version.txt && echo "token=$TOKEN"\n'
)


def test_an_image_is_built_pushed_recorded_and_run_by_a_later_stage_and_another_build(
    stack: Stack, docker_worker: Process, registry: Registry, tmp_path: Path
) -> None:
    push_login(stack, registry, "imgacct")
    add_cred(stack, "env", {"acct": "imgacct", "identifier": "API_TOKEN", "value": SECRET})
    tag = f"{registry.host}/imgacct/app"
    args = {
        "VERSION": "v{BUILD_ID}",
        "TOKEN": "{API_TOKEN}",
        "NONCE": uuid.uuid4().hex,
    }  # the RUN step must run, not come from the cache
    stages = [
        {"name": "generate", "script": ["echo made-by-stage-one > image/gen.txt"]},
        {"name": "image", "build_image": {
            "dockerfile": "image/Dockerfile", "context": "image",
            "tags": [f"{tag}:{{GIT_HASH_SHORT}}", f"{tag}:b{{BUILD_ID}}", "local/app:{GIT_BRANCH}"],
            "push": "reg", "build_args": args}},
        {"name": "inside", "image": "{BUILT}", "script": ["cat /app/version.txt /app/gen.txt"]},
    ]  # fmt: skip
    commit = make_repo(tmp_path / "repo", {"ocelot.yml": pipeline(stages),
                                           "image/Dockerfile": DOCKERFILE},
                       branch="feature/x")  # fmt: skip
    repo = stack.add_repo(tmp_path / "repo", "imgacct/app")
    build_id = stack.build(repo, branch="feature/x")
    build = stack.wait(build_id, timeout=180)
    log = stack.logs(build_id)
    assert build["status"] == "PASSED", (build, log)
    # the build's output streamed into the stage's log, the secret masked
    assert re.search(r"^Step 1/\d+ : FROM ocelot/busybox$", log, re.M) and "token=*****" in log
    assert SECRET not in log
    # a later stage ran in the image, which holds stage one's output
    assert f"version=v{build_id}" in log and "made-by-stage-one" in log
    (entry,) = build["images"]
    assert entry["stage"] == "image" and entry["image_id"].startswith("sha256:")
    assert entry["reused_from"] is None and entry["context"].startswith("sha256:")
    pushed = entry["pushed"]
    assert set(pushed) == {f"{tag}:{commit[:7]}", f"{tag}:b{build_id}"}  # local/ is not reg's
    assert all(d.startswith("sha256:") for d in pushed.values())
    assert sorted(registry_tags(registry, "imgacct/app")) == sorted([commit[:7], f"b{build_id}"])
    docker.from_env().images.get("local/app:feature-x")  # tagged, tag-safe
    # `ocelot status` and the dashboard's build page show the digests
    out = io.StringIO()
    make_console(ClientConfig(no_color=True), width=300, file=out).print(build_header(build))
    digest = pushed[f"{tag}:{commit[:7]}"]
    assert f"pushed {tag}:{commit[:7]}@{digest}" in out.getvalue()
    browser = stack.app.test_client()
    sign_in(browser, stack.token)
    page = browser.get(f"/builds/{build_id}")
    assert f"{tag}:{commit[:7]}@{digest}" in page.get_data(as_text=True)

    # Another build pulls it by digest (with the account's login) and runs in it.
    remove_images(f"{tag}:{commit[:7]}", f"{tag}:b{build_id}")
    other = [{"name": "use", "image": f"{tag}@{digest}", "script": ["cat /app/gen.txt"]}]
    make_repo(tmp_path / "user", {"ocelot.yml": pipeline(other)})
    user = stack.add_repo(tmp_path / "user", "imgacct/user")
    used = stack.wait(stack.build(user, branch="master"), timeout=120)
    assert used["status"] == "PASSED", (used, stack.logs(used["id"]))
    assert "made-by-stage-one" in stack.logs(used["id"])


BASE_DOCKERFILE = "FROM ocelot/busybox\nCOPY deps.txt /deps.txt\nRUN echo RAN-THE-RUN-STEP\n"


def test_an_unchanged_dockerfile_and_context_reuses_the_image(
    stack: Stack, docker_worker: Process, registry: Registry, tmp_path: Path
) -> None:
    push_login(stack, registry, "reuseacct")
    image = {"context": "base", "tags": [f"{registry.host}/reuseacct/base:latest"], "push": "reg"}
    stages = [{"name": "base", "build_image": image}]
    files = {"ocelot.yml": pipeline(stages), "README": "one",
             "base/Dockerfile": BASE_DOCKERFILE,
             "base/deps.txt": "requests==1\n",
             "base/.dockerignore": "# not part of the image\nnotes/\n",
             "base/notes/todo.md": "one"}  # fmt: skip
    make_repo(tmp_path / "repo", files)
    repo = stack.add_repo(tmp_path / "repo", "reuseacct/app")
    first = stack.wait(stack.build(repo, branch="master"), timeout=180)
    assert first["status"] == "PASSED", (first, stack.logs(first["id"]))
    assert "RAN-THE-RUN-STEP" in stack.logs(first["id"])

    # app code and a file the context's .dockerignore leaves out
    make_repo(tmp_path / "repo", {"README": "two", "base/notes/todo.md": "two"})
    second = stack.wait(stack.build(repo, branch="master"), timeout=120)
    log = stack.logs(second["id"])
    assert second["status"] == "PASSED", (second, log)
    image_id = first["images"][0]["image_id"]
    origin = f"reuseacct/app#{first['id']}"
    assert f"reused image {image_id[:19]} (same Dockerfile and context as {origin})" in log
    assert "RAN-THE-RUN-STEP" not in log and "Step 1/" not in log
    assert second["images"][0]["image_id"] == image_id
    assert second["images"][0]["reused_from"] == f"reuseacct/app#{first['id']}"
    assert second["images"][0]["pushed"]  # still pushed: the tag may have moved

    make_repo(tmp_path / "repo", {"base/deps.txt": "requests==2\n"})
    third = stack.wait(stack.build(repo, branch="master"), timeout=180)
    assert third["status"] == "PASSED"
    assert "RAN-THE-RUN-STEP" in stack.logs(third["id"]) and "reused" not in stack.logs(third["id"])
    assert third["images"][0]["image_id"] != image_id


def test_a_fork_pull_request_builds_the_image_but_never_pushes_it(
    stack: Stack, docker_worker: Process, registry: Registry, tmp_path: Path
) -> None:
    from tests.security.test_fork_pull_requests import api, deliver, setup_repo

    tag = f"{registry.host}/forkimg/app:pr"
    stages = [
        {"name": "image", "build_image": {"tags": [tag], "push": "reg"}},
        {"name": "inside", "image": "{BUILT}", "script": ["cat /marker"]},
    ]
    fork = pipeline(stages)
    root = tmp_path / "repo"
    repo, sha = setup_repo(stack, root, "forkimg/app", fork, number=31)
    push_login(stack, registry, "forkimg")
    # the fork's commit carries its Dockerfile
    from tests.stack import git

    git("checkout", "-q", sha, cwd=root)
    (root / "Dockerfile").write_text("FROM ocelot/busybox\nRUN echo fork-built > /marker\n")
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "fork dockerfile", cwd=root)
    sha = git("rev-parse", "HEAD", cwd=root)
    git("update-ref", "refs/pull/31/head", sha, cwd=root)
    git("checkout", "-q", "master", cwd=root)
    assert api(stack, "PATCH", f"/repos/{repo}", json={"fork_prs": "run"}).status_code == 200
    answer = deliver(stack, repo, sha, 31, fork="evil/app")
    build = stack.wait(answer["build_id"], timeout=180)
    log = stack.logs(answer["build_id"])
    assert build["status"] == "PASSED" and build["trusted"] is False, (build, log)
    assert "untrusted build" in log and "not tagged" in log and "nor pushed" in log
    assert "fork-built" in log  # the later stage ran in the fork's image, by id
    (entry,) = build["images"]
    assert entry["pushed"] == {} and entry["tagged"] is False and entry["trusted"] is False
    assert registry_tags(registry, "forkimg/app") == []
    with pytest.raises(docker.errors.ImageNotFound):
        docker.from_env().images.get(tag)


def test_killing_a_long_image_build_ends_it_killed_and_abandons_the_daemon_build(
    stack: Stack, docker_worker: Process, tmp_path: Path
) -> None:
    marker = "sleep 297"
    stages = [{"name": "slow", "build_image": {"tags": ["local/slow:1"]}}]
    dockerfile = f"FROM ocelot/busybox\nRUN echo LONG-STEP-STARTED && {marker}\n"
    make_repo(tmp_path / "repo", {"ocelot.yml": pipeline(stages), "Dockerfile": dockerfile})
    repo = stack.add_repo(tmp_path / "repo", "killimg/app")
    build_id = stack.build(repo, branch="master")
    started_line = re.compile(r"^LONG-STEP-STARTED$", re.M)  # its output, not the Step line
    eventually(lambda: started_line.search(stack.logs(build_id)), 90, lambda: stack.logs(build_id))
    client = docker.from_env()

    def sleepers() -> list[str]:
        # one list call: containers.list() inspects each one after listing, and fails on one
        # another build's clean-up removes in between
        return [c["Id"] for c in client.api.containers() if marker in (c.get("Command") or "")]

    assert sleepers(), "the build's RUN step should be running in the daemon"
    started = time.monotonic()
    resp = stack.client.post(f"/api/v1/builds/{build_id}/kill", headers=stack.auth)
    assert resp.status_code in (200, 202), resp.get_json()
    build = stack.wait(build_id, timeout=60)
    assert build["status"] == "KILLED", (build, stack.logs(build_id))
    assert time.monotonic() - started < 30
    assert build["stages"][0]["status"] == "KILLED"
    eventually(lambda: not sleepers(), 30, "the daemon to abandon the build's RUN step")
