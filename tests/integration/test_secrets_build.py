"""Secrets in real builds: env secrets masked in stored and live logs, ssh keys in the build
container, an image pulled from a password-protected registry on loopback, and a worker that
refuses to start with the wrong OCELOT_SECRET_KEY. Real Redis, Celery worker, Docker."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests
from cryptography.fernet import Fernet

from tests.conftest import require
from tests.servers import RedisServer, free_port, stop, wait_for_port
from tests.stack import Stack, docker_ok, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SECRET = "s3cr3t-value-42"
KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    "QyNTUxOQAAACBmYWtlZmFrZWZha2VmYWtlZmFrZQ\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
YML = (
    "image: {image}\nbuildTool: shell\nbranches: [master]\n"
    "stages:\n  - name: {name}\n    script:\n{script}"
)


def yml(script: list[str], image: str = "ocelot/busybox", name: str = "show") -> str:
    lines = "".join(f"      - {json.dumps(line)}\n" for line in script)
    return YML.format(image=image, name=name, script=lines)


@pytest.fixture(scope="module")
def secret_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[Stack]:
    ok, reason = docker_ok()
    require(ok, reason)
    key = Fernet.generate_key().decode()
    stack = Stack(
        tmp_path_factory.mktemp("secrets"), redis_server, db=7, env={"OCELOT_SECRET_KEY": key}
    )
    stack.start_worker("secrets-1")
    yield stack
    stack.close()


def add_cred(stack: Stack, ctype: str, body: dict[str, str]) -> None:
    resp = stack.client.post(f"/api/v1/creds/{ctype}", headers=stack.auth, json=body)
    assert resp.status_code in (200, 201), resp.get_json()


def follow(stack: Stack, build_id: int, into: list[str]) -> threading.Thread:
    """Collect the live log (SSE through the real HTTP server) in a thread."""

    def run() -> None:
        url = f"{stack.url}/api/v1/builds/{build_id}/logs?follow=1"
        with requests.get(url, headers=stack.auth, stream=True, timeout=60) as resp:
            for line in resp.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    into.append(line)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_an_echoed_secret_is_masked_in_the_stored_and_the_live_log(
    secret_stack: Stack, tmp_path: Path
) -> None:
    add_cred(secret_stack, "env", {"acct": "acme", "identifier": "API_TOKEN", "value": SECRET})
    add_cred(secret_stack, "env", {"acct": "acme", "identifier": "SHORT", "value": "abc"})
    add_cred(secret_stack, "ssh", {"acct": "acme", "identifier": "deploy", "private_key": KEY})
    script = [
        "sleep 2",
        'echo "token=$API_TOKEN short=$SHORT"',
        "cat ~/.ssh/id_deploy",
        "stat -c '%a %u %n' ~/.ssh ~/.ssh/id_deploy ~/.ssh/config",
        f"test ${{#API_TOKEN}} = {len(SECRET)}",  # the value itself must not be in ocelot.yml
    ]
    make_repo(tmp_path / "repo", {"ocelot.yml": yml(script)})
    repo = secret_stack.add_repo(tmp_path / "repo", "acme/secret-echo")
    build_id = secret_stack.build(repo, branch="master")
    live: list[str] = []
    reader = follow(secret_stack, build_id, live)
    build = secret_stack.wait(build_id)
    reader.join(timeout=30)
    stored = secret_stack.logs(build_id)
    assert build["status"] == "PASSED", (build, stored)
    assert "token=***** short=abc" in stored
    assert "700 0 /root/.ssh" in stored and "600 0 /root/.ssh/id_deploy" in stored
    streamed = "".join(live)
    assert "token=***** short=abc" in streamed and "b3BlbnNz" not in streamed
    for text in (stored, streamed):
        assert SECRET not in text
        for line in KEY.splitlines():
            assert line not in text
    # Not in the worker's own log, not anywhere on its disk (workspace, DB, logs) in clear.
    for path in secret_stack.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and b"b3BlbnNzaC1rZXkt" not in data, path
    labels = {"label": [f"ocelot.build_id={build_id}", "ocelot.worker=secrets-1"]}
    eventually(  # the container (and the key in it) goes with the build
        lambda: not docker.from_env().api.containers(all=True, filters=labels),
        10,
        "the build container to be removed",
        interval=0.2,
    )


def test_maven_builds_get_a_settings_xml_with_the_logins(
    secret_stack: Stack, tmp_path: Path
) -> None:
    login = {"repo_type": "maven", "url": "https://nexus.example/repo", "username": "dep"}
    add_cred(
        secret_stack,
        "repo",
        {"acct": "mvn", "identifier": "nexus", **login, "password": "mvn-pass-7"},
    )
    script = ["stat -c '%a' ~/.m2/settings.xml", "cat ~/.m2/settings.xml"]
    text = yml(script).replace("buildTool: shell", "buildTool: maven")
    make_repo(tmp_path / "repo", {"ocelot.yml": text})
    build = secret_stack.wait(
        secret_stack.build(secret_stack.add_repo(tmp_path / "repo", "mvn/app"), branch="master")
    )
    log = secret_stack.logs(build["id"])
    assert build["status"] == "PASSED", (build["failure_reason"], log)
    assert "600\n" in log and "<id>nexus</id>" in log and "<username>dep</username>" in log
    assert "<password>*****</password>" in log and "mvn-pass-7" not in log


class Registry:
    """Debian's docker-registry (the Docker distribution registry) with htpasswd auth."""

    def __init__(self, root: Path, user: str, password: str) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        htpasswd = root / "htpasswd"
        bcrypt = subprocess.run(
            ["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True
        )
        htpasswd.write_text(bcrypt.stdout)
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            f"http:\n  addr: {self.host}\n"
            f"auth:\n  htpasswd:\n    realm: ocelot-test\n    path: {htpasswd}\n"
        )
        self.log = (root / "registry.log").open("wb")
        self.proc = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        stop(self.proc)
        self.log.close()


@pytest.fixture(scope="module")
def registry(secret_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    require(
        os.path.exists(REGISTRY_BIN), "docker-registry is not installed (scripts/install-deps.sh)"
    )
    require(shutil.which("htpasswd") is not None, "htpasswd is not installed (apache2-utils)")
    reg = Registry(tmp_path_factory.mktemp("registry"), "ci", "registry-pass-1")
    client = docker.from_env()
    image = client.images.get("ocelot/busybox:latest")
    repo = f"{reg.host}/secret/busybox"
    image.tag(repo, "latest")
    auth = {"username": "ci", "password": "registry-pass-1", "serveraddress": reg.host}
    out = client.images.push(repo, "latest", auth_config=auth)
    assert "error" not in out.lower(), out
    client.images.remove(f"{repo}:latest")  # the build has to pull it
    yield reg
    for tag in (f"{repo}:latest",):
        try:
            client.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass
    reg.stop()


def test_the_build_image_is_pulled_from_a_password_protected_registry(
    secret_stack: Stack, registry: Registry, tmp_path: Path
) -> None:
    image = f"{registry.host}/secret/busybox"
    make_repo(tmp_path / "repo", {"ocelot.yml": yml(["echo pulled fine"], image=image)})
    # Without a login for this registry the pull is refused.
    stranger = secret_stack.add_repo(tmp_path / "repo", "nobody/private-image")
    build = secret_stack.wait(secret_stack.build(stranger, branch="master"))
    assert build["status"] == "FAILED_PRESTART", build
    # A wrong password fails too, and the failure does not show the password.
    wrong = {
        "repo_type": "docker",
        "url": registry.host,
        "username": "ci",
        "password": "wrong-pass-9",
    }
    add_cred(secret_stack, "repo", {"acct": "acme", "identifier": "reg", **wrong})
    repo = secret_stack.add_repo(tmp_path / "repo", "acme/private-image")
    build = secret_stack.wait(secret_stack.build(repo, branch="master"))
    assert build["status"] == "FAILED_PRESTART" and "wrong-pass-9" not in json.dumps(build)
    assert registry.host in build["failure_reason"]
    right = {**wrong, "password": "registry-pass-1", "overwrite": "true"}
    add_cred(secret_stack, "repo", {"acct": "acme", "identifier": "reg", **right})
    build = secret_stack.wait(secret_stack.build(repo, branch="master"))
    assert build["status"] == "PASSED", (build, secret_stack.logs(build["id"]))
    assert "pulled fine" in secret_stack.logs(build["id"])
    docker_config = Path.home() / ".docker" / "config.json"
    assert not docker_config.exists() or registry.host not in docker_config.read_text()


def test_a_stage_image_on_a_private_registry_is_pulled_with_the_login(
    secret_stack: Stack, registry: Registry, tmp_path: Path
) -> None:
    image = f"{registry.host}/secret/busybox"
    with contextlib.suppress(docker.errors.ImageNotFound):  # the stage has to pull it
        docker.from_env().images.remove(f"{image}:latest", force=True)
    login = {"repo_type": "docker", "url": registry.host, "username": "ci"}
    right = {**login, "password": "registry-pass-1", "overwrite": "true"}
    add_cred(secret_stack, "repo", {"acct": "acme", "identifier": "reg", **right})
    text = yml(["echo in the build image"]) + (
        f"  - name: private\n    image: {image}\n    script:\n      - echo pulled for the stage\n"
    )
    make_repo(tmp_path / "repo", {"ocelot.yml": text})
    repo = secret_stack.add_repo(tmp_path / "repo", "acme/private-stage-image")
    build = secret_stack.wait(secret_stack.build(repo, branch="master"))
    log = secret_stack.logs(build["id"])
    assert build["status"] == "PASSED", (build, log)
    assert "pulled for the stage" in log
    docker_config = Path.home() / ".docker" / "config.json"
    assert not docker_config.exists() or registry.host not in docker_config.read_text()


def test_a_cached_private_image_is_refused_to_a_build_that_may_not_have_its_login(
    secret_stack: Stack, registry: Registry, tmp_path: Path
) -> None:
    """The attack: a private image is in the daemon's cache because a build with the login
    pulled it; a build without the login (untrusted, or outside the login's scope) asks for
    it by name. It must not run."""
    image = f"{registry.host}/secret/busybox"
    login = {"repo_type": "docker", "url": registry.host, "username": "ci"}
    body = {"acct": "scoped", "identifier": "reg", **login, "password": "registry-pass-1"}
    resp = secret_stack.client.post(
        "/api/v1/creds/repo", headers=secret_stack.auth, json={**body, "branches": ["master"]}
    )
    assert resp.status_code in (200, 201), resp.get_json()
    make_repo(tmp_path / "repo", {"ocelot.yml": yml(["echo ran the image"], image=image)})
    make_repo(tmp_path / "repo", {"ocelot.yml": yml(["echo ran the image"], image=image).replace(
        "branches: [master]", "branches: [ALL]")}, branch="feature")  # fmt: skip
    repo = secret_stack.add_repo(tmp_path / "repo", "scoped/cached-image")
    allowed = secret_stack.wait(secret_stack.build(repo, branch="master"))
    assert allowed["status"] == "PASSED", allowed  # pulled with the login: now cached
    docker.from_env().images.get(image)
    refused = secret_stack.wait(secret_stack.build(repo, branch="feature", force=True))
    assert refused["status"] == "FAILED_PRESTART", refused
    assert "whose login this build may not use" in refused["failure_reason"]
    assert "ran the image" not in secret_stack.logs(refused["id"])


def test_a_worker_with_the_wrong_key_refuses_to_start_with_a_clear_message(
    secret_stack: Stack,
) -> None:
    add_cred(secret_stack, "env", {"acct": "acme", "identifier": "ANY_SECRET", "value": SECRET})
    env = {
        **os.environ,
        **secret_stack.env,
        "OCELOT_SECRET_KEY": Fernet.generate_key().decode(),
        "OCELOT_WORKER_EXECUTOR": "local",
        "OCELOT_WORKER_NAME": "wrong-key",
    }
    result = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stderr[-2000:]
    assert "OCELOT_SECRET_KEY does not decrypt the stored credentials" in result.stderr
    assert "Traceback" not in result.stderr and SECRET not in result.stderr
