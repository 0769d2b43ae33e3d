"""What a build gets from the credentials store of its account, and how it gets there.

Only *trusted* builds get credentials, and of those only the credentials whose scope (events,
branch patterns) admits the build (:func:`ocelot.services.trust.credential_applies`). The log
redactor of every build, trusted or not, masks every secret value of the account.

* **Every stage**: the account's ``env`` credentials as environment variables (after
  Ocelot's variables and ocelot.yml's ``env``, so they win), and a log redactor that masks
  every secret value of the account (:mod:`ocelot.secrets.redaction`).
* **Prepare** (docker executor): the build image is pulled with the account's ``repo``
  credential of type ``docker`` whose URL names the image's registry, passing the login to
  the daemon with the pull request (no ``docker login``, no ``~/.docker/config.json``
  written anywhere). ``ssh`` keys go to ``~/.ssh/id_<identifier>`` (0600, in a 0700
  ``~/.ssh`` with a ``config`` naming them, and ``known_hosts`` from the credentials' field),
  and with ``buildTool: maven`` the ``maven``/``nexus`` repo credentials are rendered to
  ``~/.m2/settings.xml`` (0600), one ``<server>`` per credential whose ``<id>`` is its
  identifier. The files are streamed into the build container from memory (``put_archive``),
  owned by the container's user, so nothing touches the worker's disk or an image, and they
  go away with the container. Stage containers of a stage's own ``image`` get env secrets
  but not these files; the local executor gets env secrets only.
"""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ocelot.db import session_scope
from ocelot.errors import ExecutorError
from ocelot.executors import BuildKey
from ocelot.models import Build
from ocelot.pipeline import BuildConfig
from ocelot.runner.context import RunContext
from ocelot.secrets.redaction import Redactor, make_redactor
from ocelot.services.credentials import account_secrets
from ocelot.services.trust import credential_applies
from ocelot.settings import Settings

DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


@dataclass(frozen=True)
class RegistryLogin:
    registry: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class MavenServer:
    id: str
    username: str
    password: str = field(repr=False)


@dataclass
class BuildSecrets:
    """The secrets of one account, sorted by what a build does with them. Never logged."""

    env: dict[str, str] = field(default_factory=dict, repr=False)
    values: list[str] = field(default_factory=list, repr=False)
    registries: list[RegistryLogin] = field(default_factory=list)
    ssh_keys: dict[str, str] = field(default_factory=dict, repr=False)
    known_hosts: list[str] = field(default_factory=list)
    maven: list[MavenServer] = field(default_factory=list)

    @property
    def redactor(self) -> Redactor:
        return make_redactor(self.values)


def load_build_secrets(session: Any, settings: Settings, build: Build) -> BuildSecrets:
    """The credentials ``build`` may have (none when untrusted), and the values to mask."""
    found = BuildSecrets()
    for row, secret in account_secrets(session, settings, build.repo.acct):
        fields = row.fields or {}
        found.values.extend(secret.values())
        if not credential_applies(row.events, row.branches, build):
            continue
        if row.ctype == "env":
            found.env[row.identifier] = secret.get("value", "")
        elif row.ctype == "ssh" and secret.get("private_key"):
            found.ssh_keys[row.identifier] = secret["private_key"]
            if fields.get("known_hosts"):
                found.known_hosts.append(fields["known_hosts"].strip())
        elif row.ctype == "repo" and fields.get("repo_type") == "docker":
            login = RegistryLogin(
                registry_host(fields.get("url", "")),
                fields.get("username", ""),
                secret.get("password", ""),
            )
            found.registries.append(login)
        elif row.ctype == "repo" and fields.get("repo_type") in ("maven", "nexus"):
            found.maven.append(
                MavenServer(row.identifier, fields.get("username", ""), secret.get("password", ""))
            )
    return found


def stage_secrets(
    session: Any, settings: Settings, build: Build
) -> tuple[dict[str, str], Redactor]:
    """The env secrets and the log redactor of a stage of ``build``."""
    found = load_build_secrets(session, settings, build)
    return found.env, found.redactor


# -- registry logins ---------------------------------------------------------------------------


def registry_host(url: str) -> str:
    """The registry a URL names: ``https://index.docker.io/v1/`` → ``docker.io``,
    ``127.0.0.1:5000/secret`` → ``127.0.0.1:5000``."""
    host = url.strip().split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in DOCKER_HUB else host


def image_registry(image: str) -> str:
    from docker.auth import resolve_repository_name
    from docker.utils import parse_repository_tag

    repository, _ = parse_repository_tag(image)
    return registry_host(resolve_repository_name(repository)[0])


def login_for(image: str, logins: list[RegistryLogin]) -> RegistryLogin | None:
    wanted = image_registry(image)
    return next((login for login in logins if login.registry == wanted), None)


def pull_with_login(executor: Any, image: str, login: RegistryLogin) -> None:
    """Pull ``image`` with ``login`` (given to the daemon per request, stored nowhere)."""
    from docker.errors import APIError

    auth = {"username": login.username, "password": login.password, "serveraddress": login.registry}
    try:
        executor.client().images.pull(image, auth_config=auth)
    except APIError as exc:
        raise ExecutorError(
            f"pulling {image} from {login.registry} as {login.username!r} failed: "
            f"{exc.explanation or exc.status_code}"
        ) from None


# -- files in the build container ---------------------------------------------------------------


def home_files(found: BuildSecrets, config: BuildConfig) -> dict[str, tuple[str, int]]:
    """Relative path under ``$HOME`` → (content, mode)."""
    files: dict[str, tuple[str, int]] = {}
    if found.ssh_keys:
        lines = ["Host *"]
        for identifier, key in sorted(found.ssh_keys.items()):
            files[f".ssh/id_{identifier}"] = (key, 0o600)
            lines.append(f"    IdentityFile ~/.ssh/id_{identifier}")
        if found.known_hosts:
            files[".ssh/known_hosts"] = ("\n".join(found.known_hosts) + "\n", 0o644)
        else:  # nothing to pin: trust a host on first contact, still refuse a changed key
            lines.append("    StrictHostKeyChecking accept-new")
        files[".ssh/config"] = ("\n".join(lines) + "\n", 0o600)
    if config.build_tool == "maven" and found.maven:
        files[".m2/settings.xml"] = (maven_settings(found.maven), 0o600)
    return files


def maven_settings(servers: list[MavenServer]) -> str:
    body = "".join(
        f"    <server>\n      <id>{escape(s.id)}</id>\n"
        f"      <username>{escape(s.username)}</username>\n"
        f"      <password>{escape(s.password)}</password>\n    </server>\n"
        for s in servers
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">\n'
        f"  <servers>\n{body}  </servers>\n</settings>\n"
    )


def _tar(home: str, files: dict[str, tuple[str, int]], uid: int, gid: int) -> bytes:
    buf = io.BytesIO()  # in memory: secrets never touch the worker's disk
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs = sorted({str(Path(p).parent) for p in files})
        for name in dirs:
            info = tarfile.TarInfo(f"{home.strip('/')}/{name}".lstrip("/"))
            info.type, info.mode, info.uid, info.gid, info.mtime = (
                tarfile.DIRTYPE,
                0o700,
                uid,
                gid,
                now,
            )
            tar.addfile(info)
        for name, (content, mode) in sorted(files.items()):
            data = content.encode()
            info = tarfile.TarInfo(f"{home.strip('/')}/{name}".lstrip("/"))
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, gid, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def install_home_files(executor: Any, key: BuildKey, files: dict[str, tuple[str, int]]) -> None:
    """Copy ``files`` into ``$HOME`` of the build container of ``key``."""
    from docker.errors import DockerException

    from ocelot.executors.docker import container_name

    try:
        container = executor.client().containers.get(
            container_name(key, getattr(executor, "instance", ""))
        )
        code, out = container.exec_run(
            [
                "sh",
                "-c",
                'mkdir -p "${HOME:-/root}" && printf "%s\\n" "${HOME:-/root}" && id -u && id -g',
            ]
        )
        parts = out.decode(errors="replace").split() if code == 0 else []
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise ExecutorError("cannot find the home directory of the build container's user")
        home, uid, gid = parts[0], int(parts[1]), int(parts[2])
        if not container.put_archive("/", _tar(home, files, uid, gid)):
            raise ExecutorError("docker refused the credentials files for the build container")
    except DockerException as exc:
        raise ExecutorError(
            f"could not put credentials files into the build container: {type(exc).__name__}"
        ) from None


def prepare_environment(ctx: RunContext, key: BuildKey, checkout: Path, config: BuildConfig) -> str:
    """``executor.prepare`` with the registry login, ssh keys and maven settings the build
    may have (none for an untrusted build)."""
    with session_scope(ctx.engine) as session:
        build = session.get(Build, key.build_id)
        if build is None:
            raise ExecutorError(f"build {key.build_id} is gone")
        found = load_build_secrets(session, ctx.settings, build)
    executor = ctx.executor
    docker = getattr(executor, "name", "") == "docker"
    if docker and config.image:
        login = login_for(config.image, found.registries)
        if login is not None:
            pull_with_login(executor, config.image, login)
    workspace: str = executor.prepare(key, checkout, config.image, {})
    files = home_files(found, config)
    if docker and files:
        install_home_files(executor, key, files)
    return workspace
