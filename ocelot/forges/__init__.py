"""Forges by ``vcs_type``: ``github``, ``gitlab``, ``bitbucket`` and ``git`` (plain, no API).

:func:`get_forge` gives the webhook half (no token needed); :func:`api_forge` a forge whose API
client points at the base URL from settings (``OCELOT_GITHUB_API_URL``, ...) with a token from
the credentials store. The contract is :class:`ocelot.forges.base.Forge`.
"""

from __future__ import annotations

from ocelot.errors import NotFound
from ocelot.forges.base import Event, Forge, Ignored
from ocelot.forges.bitbucket import Bitbucket
from ocelot.forges.git import PlainGit
from ocelot.forges.github import GitHub
from ocelot.forges.gitlab import GitLab

FORGES: dict[str, type[GitHub] | type[GitLab] | type[Bitbucket] | type[PlainGit]] = {
    "github": GitHub,
    "gitlab": GitLab,
    "bitbucket": Bitbucket,
    "git": PlainGit,
}
WEBHOOK_FORGES = ("github", "gitlab", "bitbucket")


def get_forge(name: str, api_url: str | None = None, token: str | None = None) -> Forge:
    """The forge called ``name``; NotFound for a name Ocelot does not know."""
    cls = FORGES.get(name)
    if cls is None:
        raise NotFound(f"unknown forge {name!r} (known: {', '.join(FORGES)})")
    forge = cls(api_url, token) if api_url else cls(token=token)
    return forge  # type: ignore[return-value]  # each class implements the Forge Protocol


__all__ = ["FORGES", "WEBHOOK_FORGES", "Event", "Forge", "Ignored", "get_forge"]
