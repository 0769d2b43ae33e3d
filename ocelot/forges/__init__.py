"""The forge registry: every forge Ocelot knows, by the name a repository's ``vcs_type`` holds.

* ``github`` — webhooks and API (root ``OCELOT_GITHUB_API_URL``), token user ``x-access-token``;
* ``gitlab`` — webhooks and API (``OCELOT_GITLAB_API_URL``), token user ``oauth2``;
* ``bitbucket`` — webhooks and API (``OCELOT_BITBUCKET_API_URL``), token user ``x-token-auth``;
* ``git`` — plain git: no webhooks, no API (build it with a poll or from the CLI).

Everything that needs a forge name or a fact about a forge reads it here: the names
(:data:`FORGE_NAMES`, :data:`VCS_TYPES`, :data:`WEBHOOK_FORGES`), :func:`get_forge` (the
client: the webhook half needs no token), :func:`api_url` (the API root from settings) and
:func:`token_user`. The contract a forge implements is :class:`ocelot.forges.base.Forge`.

Importing this package is light (no ``requests``): the CLI takes its ``--vcs-type`` and
``--forge`` choices from here. The forge classes, and ``Event`` / ``Forge`` / ``Ignored``, are
imported on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from ocelot.errors import NotFound

if TYPE_CHECKING:
    from ocelot.forges.base import Event, Forge, Ignored
    from ocelot.settings import Settings


@dataclass(frozen=True)
class ForgeInfo:
    """What Ocelot knows about a forge without loading its client."""

    name: str
    client: str  # "module:Class" of the Forge implementation
    webhooks: bool  # it sends webhooks and has an API (statuses, comments, hooks, discovery)
    api_url_setting: str | None = None  # the Settings attribute holding its API root
    token_user: str | None = None  # the user name git sends with a token over HTTPS


REGISTRY: dict[str, ForgeInfo] = {
    info.name: info
    for info in (
        ForgeInfo(
            "github",
            "ocelot.forges.github:GitHub",
            webhooks=True,
            api_url_setting="github_api_url",
            token_user="x-access-token",
        ),
        ForgeInfo(
            "gitlab",
            "ocelot.forges.gitlab:GitLab",
            webhooks=True,
            api_url_setting="gitlab_api_url",
            token_user="oauth2",
        ),
        ForgeInfo(
            "bitbucket",
            "ocelot.forges.bitbucket:Bitbucket",
            webhooks=True,
            api_url_setting="bitbucket_api_url",
            token_user="x-token-auth",
        ),
        ForgeInfo("git", "ocelot.forges.git:PlainGit", webhooks=False),
    )
}

FORGE_NAMES: tuple[str, ...] = tuple(REGISTRY)
# A repository's vcs_type is the name of the forge that hosts it ("git": plain git, no API).
VCS_TYPES = FORGE_NAMES
WEBHOOK_FORGES: tuple[str, ...] = tuple(n for n, info in REGISTRY.items() if info.webhooks)
DEFAULT_VCS_TYPE = "git"


def forge_info(name: str) -> ForgeInfo:
    """The registry entry of ``name``; NotFound for a name Ocelot does not know."""
    info = REGISTRY.get(name)
    if info is None:
        raise NotFound(f"unknown forge {name!r} (known: {', '.join(FORGE_NAMES)})")
    return info


def forge_class(name: str) -> type[Forge]:
    module, _, cls = forge_info(name).client.partition(":")
    found: type[Forge] = getattr(import_module(module), cls)
    return found


def get_forge(name: str, api_url: str | None = None, token: str | None = None) -> Forge:
    """The forge called ``name`` (its API at ``api_url``, else its public default)."""
    cls: Any = forge_class(name)
    forge: Forge = cls(api_url, token) if api_url else cls(token=token)
    return forge


def api_url(settings: Settings, name: str) -> str:
    """The API root of forge ``name`` from settings ("" for a forge without an API)."""
    info = REGISTRY.get(name)
    attr = info.api_url_setting if info else None
    return str(getattr(settings, attr)) if attr else ""


def token_user(name: str) -> str | None:
    """The user name git sends with a forge token as the password (None: no tokens)."""
    info = REGISTRY.get(name)
    return info.token_user if info else None


def __getattr__(attr: str) -> Any:
    """``Event``, ``Forge`` and ``Ignored`` from :mod:`ocelot.forges.base`, loaded on use."""
    if attr in ("Event", "Forge", "Ignored"):
        return getattr(import_module("ocelot.forges.base"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = [
    "DEFAULT_VCS_TYPE",
    "FORGE_NAMES",
    "REGISTRY",
    "VCS_TYPES",
    "WEBHOOK_FORGES",
    "Event",
    "Forge",
    "ForgeInfo",
    "Ignored",
    "api_url",
    "forge_class",
    "forge_info",
    "get_forge",
    "token_user",
]
