"""What a build gets from the credentials store of its account (deciding and rendering only).

Only *trusted* builds get credentials, and of those only the credentials whose scope (events,
branch patterns) admits the build (:func:`ocelot.services.trust.credential_applies`). The log
redactor of every build, trusted or not, masks every secret value of the account.

* **Every stage**: the account's ``env`` credentials as environment variables (after
  Ocelot's variables and ocelot.yml's ``env``, so they win), and a log redactor that masks
  every secret value of the account (:mod:`ocelot.secrets.redaction`); a stage with its own
  ``image`` also gets the registry logins, so a private stage image is pulled with them.
* **Prepare**: the account's ``repo`` credentials of type ``docker`` as
  :class:`~ocelot.executors.RegistryLogin` s, and the files for ``$HOME`` as
  :class:`~ocelot.executors.HomeFile` s: ``ssh`` keys as ``.ssh/id_<identifier>`` (0600) with
  a ``.ssh/config`` naming them and ``.ssh/known_hosts`` from the credentials' field, and with
  ``buildTool: maven`` the ``maven``/``nexus`` repo credentials rendered to
  ``.m2/settings.xml`` (0600), one ``<server>`` per credential whose ``<id>`` is its
  identifier.

How they reach the build (pulling with the login, streaming the files into the container) is
the executor's business, behind :class:`ocelot.executors.Executor` ("Credentials" there, and
the docstrings of the docker and local executors). Nothing here talks to an executor backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from ocelot.db import session_scope
from ocelot.errors import ExecutorError
from ocelot.executors import HomeFile, RegistryLogin
from ocelot.executors.base import image_registry, registry_host
from ocelot.models import Build
from ocelot.pipeline import BuildConfig
from ocelot.runner.context import RunContext
from ocelot.secrets.redaction import Redactor, make_redactor
from ocelot.services.credentials import account_secrets
from ocelot.services.trust import credential_applies
from ocelot.settings import Settings


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
    # the same logins by credential identifier (``build_image.push`` names one)
    registry_ids: dict[str, RegistryLogin] = field(default_factory=dict)
    ssh_keys: dict[str, str] = field(default_factory=dict, repr=False)
    known_hosts: list[str] = field(default_factory=list)
    maven: list[MavenServer] = field(default_factory=list)
    # Registries whose login the account has but this build may not (untrusted, or out of
    # the credential's scope): their images are refused, cached copies included.
    withheld_registries: set[str] = field(default_factory=set)

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
            if row.ctype == "repo" and fields.get("repo_type") == "docker":
                found.withheld_registries.add(registry_host(fields.get("url", "")))
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
            found.registry_ids[row.identifier] = login
        elif row.ctype == "repo" and fields.get("repo_type") in ("maven", "nexus"):
            found.maven.append(
                MavenServer(row.identifier, fields.get("username", ""), secret.get("password", ""))
            )
    return found


def stage_secrets(
    session: Any, settings: Settings, build: Build
) -> tuple[dict[str, str], Redactor, tuple[RegistryLogin, ...]]:
    """The env secrets, the log redactor and the registry logins (for a stage's own
    ``image``) of a stage of ``build``."""
    found = load_build_secrets(session, settings, build)
    return found.env, found.redactor, tuple(found.registries)


def prepare_secrets(
    ctx: RunContext, build_id: int, config: BuildConfig
) -> tuple[tuple[RegistryLogin, ...], dict[str, HomeFile]]:
    """The registry logins and the ``$HOME`` files for ``executor.prepare`` of a build (none
    for an untrusted build)."""
    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id)
        if build is None:
            raise ExecutorError(f"build {build_id} is gone")
        found = load_build_secrets(session, ctx.settings, build)
    check_images(found, config)
    return tuple(found.registries), home_files(found, config)


def check_images(found: BuildSecrets, config: BuildConfig) -> None:
    """Refuse an image (the build's or a stage's) from a registry whose login the account
    has but this build may not use: the daemon may hold a copy pulled by another build, and
    a private image is the account's as much as its password is."""
    allowed = {login.registry for login in found.registries}
    images = [config.image, *(stage.image for stage in config.stages)]
    for image in filter(None, images):
        if "{" in image:  # "{BUILT}" or placeholders: checked when the stage runs
            continue
        registry = image_registry(image)
        if registry in found.withheld_registries and registry not in allowed:
            raise ExecutorError(
                f"image {image} comes from {registry}, whose login this build may not use "
                "(an untrusted build, or outside the credential's events/branches): "
                "Ocelot does not run a copy another build pulled"
            )


# -- files for $HOME of the build ----------------------------------------------------------------


def home_files(found: BuildSecrets, config: BuildConfig) -> dict[str, HomeFile]:
    """Relative path under ``$HOME`` → file, for the build's ssh keys and maven settings."""
    files: dict[str, HomeFile] = {}
    if found.ssh_keys:
        lines = ["Host *"]
        for identifier, key in sorted(found.ssh_keys.items()):
            files[f".ssh/id_{identifier}"] = HomeFile(key, 0o600)
            lines.append(f"    IdentityFile ~/.ssh/id_{identifier}")
        if found.known_hosts:
            files[".ssh/known_hosts"] = HomeFile("\n".join(found.known_hosts) + "\n", 0o644)
        else:  # nothing to pin: trust a host on first contact, still refuse a changed key
            lines.append("    StrictHostKeyChecking accept-new")
        files[".ssh/config"] = HomeFile("\n".join(lines) + "\n", 0o600)
    if config.build_tool == "maven" and found.maven:
        files[".m2/settings.xml"] = HomeFile(maven_settings(found.maven), 0o600)
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
