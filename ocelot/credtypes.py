"""The credential types: one spec that the server validates with and the CLI builds from.

Each :class:`CredentialType` lists its fields (:class:`Field`): which are secrets (kept in the
secret backend, never shown), which are required, the values a field may take, which the CLI
reads from a file, and the help the CLI shows. The server (``ocelot.services.credentials``)
is the judge of what is valid; the CLI (``ocelot creds``) makes its flags and prompts from the
same spec, so the two cannot disagree on what a credential needs.

``scoped`` types are the ones a build receives (``env``, ``ssh``, ``repo``): only those can be
limited to :data:`SCOPE_EVENTS` and branch patterns (see ``ocelot.services.trust``).

Imports nothing but the forge names (themselves dependency-free): the CLI uses it on users'
machines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ocelot.forges import FORGE_NAMES

# The events a credential can be limited to (a build's ``trigger``).
SCOPE_EVENTS = ("push", "tag", "pull_request", "cli", "api", "poll", "rebuild", "upstream")
REPO_TYPES = ("docker", "maven", "npm", "nexus")
NOTIFY_KINDS = ("slack", "webhook")


@dataclass(frozen=True)
class Field:
    """One field of a credential, as the REST API names it."""

    name: str
    help: str
    secret: bool = False
    required: bool = False
    choices: tuple[str, ...] = ()
    from_file: bool = False  # the CLI reads the value from the file its flag names


@dataclass(frozen=True)
class CredentialType:
    name: str
    summary: str
    fields: tuple[Field, ...]
    one_of: tuple[str, ...] = ()  # at least one of these secrets
    scoped: bool = False  # a build receives it: it can be limited to events and branches

    @property
    def shown(self) -> tuple[str, ...]:
        """Names of the non-secret fields (stored in SQL, listed)."""
        return tuple(f.name for f in self.fields if not f.secret)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Names of the secret fields (stored in the secret backend, never shown)."""
        return tuple(f.name for f in self.fields if f.secret)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    @property
    def choices(self) -> Mapping[str, tuple[str, ...]]:
        return {f.name: f.choices for f in self.fields if f.choices}

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


TYPES: dict[str, CredentialType] = {
    t.name: t
    for t in (
        CredentialType(
            "vcs",
            "Forge tokens (GitHub, GitLab, Bitbucket) used for webhooks, statuses and clones.",
            (
                Field("forge", "Forge the token is for.", choices=FORGE_NAMES),
                Field("url", "API URL of a self-hosted forge."),
                Field("username", "User the token belongs to."),
                Field(
                    "token",
                    "The token (prompted, hidden, when left out).",
                    secret=True,
                    required=True,
                ),
                Field("client_secret", "OAuth client secret of an app (a secret).", secret=True),
            ),
        ),
        CredentialType(
            "repo",
            "Registry and artifact repository logins (docker, maven/nexus, npm).",
            (
                Field("repo_type", "Kind of repository.", required=True, choices=REPO_TYPES),
                Field("url", "Registry or repository URL (docker: host[:port]).", required=True),
                # A registry login is a user and a password: docker and maven send both.
                Field("username", "Login name.", required=True),
                Field(
                    "password",
                    "Password (prompted, hidden, when left out).",
                    secret=True,
                    required=True,
                ),
            ),
            scoped=True,
        ),
        CredentialType(
            "ssh",
            "SSH private keys, written to ~/.ssh/ in every build container of the account.",
            (
                Field(
                    "private_key",
                    "File with the private key.",
                    secret=True,
                    required=True,
                    from_file=True,
                ),
                Field(
                    "known_hosts",
                    "known_hosts file with the git hosts' keys: fetches check them strictly "
                    "(without one, the first key a host shows is pinned and a change is "
                    "refused).",
                    from_file=True,
                ),
            ),
            scoped=True,
        ),
        CredentialType(
            "notify",
            "Slack webhooks and bot tokens used by notifications.",
            (
                Field("kind", "slack or webhook.", choices=NOTIFY_KINDS),
                Field("channel", "Default channel (bot tokens)."),
                Field("webhook_url", "Incoming webhook URL (a secret).", secret=True),
                Field("token", "Bot token (a secret).", secret=True),
            ),
            one_of=("webhook_url", "token"),
        ),
        CredentialType(
            "env",
            "Secret environment variables for every build of the account (NAME=its name).",
            (
                Field(
                    "value",
                    "The value (prompted, hidden, when left out).",
                    secret=True,
                    required=True,
                ),
            ),
            scoped=True,
        ),
    )
}
CREDENTIAL_TYPES = tuple(TYPES)
SCOPED_TYPES = tuple(name for name, spec in TYPES.items() if spec.scoped)

__all__ = [
    "CREDENTIAL_TYPES",
    "SCOPED_TYPES",
    "SCOPE_EVENTS",
    "TYPES",
    "CredentialType",
    "Field",
]
