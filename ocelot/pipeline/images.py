"""The ``build_image`` stage of ocelot.yml: its typed form and the small grammars it uses.

* :class:`ImageBuild` — one stage's ``build_image`` mapping, paths normalised.
* Placeholders: ``{NAME}`` in ``tags``, ``build_args`` and a stage's ``image`` stands for a
  variable of the stage's environment (:func:`expand`); in tags the values are made tag-safe
  first (:func:`tag_safe`), so ``{GIT_BRANCH}`` = ``feature/x`` gives ``feature-x``.
* :data:`BUILT` — ``image: "{BUILT}"`` on a later stage: the image an earlier ``build_image``
  stage of the same build made.
* :func:`reference_problem` — whether a finished tag is a reference Docker accepts.

Pure: no I/O. The worker side is :mod:`ocelot.runner.image_stage`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

BUILT = "{BUILT}"
"""``image: "{BUILT}"``: the image the closest earlier build_image stage of the build made."""

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

BUILD_VARIABLES = frozenset(
    {
        "CI",
        "OCELOT",
        "BUILD_ID",
        "GIT_HASH",
        "GIT_HASH_SHORT",
        "GIT_BRANCH",
        "GIT_TAG",
        "WORKSPACE",
        "GIT_PREVIOUS_SUCCESSFUL_COMMIT",
        "OCELOT_REPO",
        "OCELOT_STAGE",
        "OCELOT_TRIGGER",
        "OCELOT_TRIGGERED_BY",
        "OCELOT_PR_ID",
    }
)
"""Ocelot's own variables (docs/ocelot-yml.md, "Environment of a stage")."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
# Docker's reference grammar, simplified: [host[:port]/]path[:tag][@digest] with lower-case
# path components separated by '/', '.', '_', '__' or '-'s.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?:(?P<host>[A-Za-z0-9.-]+(?::[0-9]+)?|localhost)/)?"
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$"
)


@dataclass(frozen=True)
class ImageBuild:
    """A stage's ``build_image``: paths relative to the checkout ("." is the checkout)."""

    dockerfile: str
    context: str
    tags: tuple[str, ...]
    push: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)


def placeholders(text: str) -> list[str]:
    """The variable names ``text`` refers to as ``{NAME}``, in order."""
    return PLACEHOLDER.findall(text)


def tag_safe(value: str) -> str:
    """``value`` with every run of characters a tag cannot hold turned into ``-``."""
    return _UNSAFE.sub("-", value)


def expand(
    text: str,
    env: Mapping[str, str],
    *,
    safe: bool = False,
    missing: Callable[[str], None] | None = None,
) -> str:
    """``text`` with each ``{NAME}`` replaced by ``env[NAME]`` (tag-safe when ``safe``); an
    unknown name becomes empty and is reported to ``missing``. ``{BUILT}`` is left alone."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if match.group(0) == BUILT:
            return BUILT
        if name not in env:
            if missing is not None:
                missing(name)
            return ""
        return tag_safe(env[name]) if safe else env[name]

    return PLACEHOLDER.sub(one, text)


def reference_problem(reference: str) -> str | None:
    """Why Docker would refuse ``reference`` as an image tag, or None when it is fine."""
    if len(reference) > 255:
        return "is longer than 255 characters"
    if not _REFERENCE.match(reference):
        return (
            "is not an image reference: [registry[:port]/]name[:tag], the name in lower case "
            "(letters, digits, '.', '_', '-' and '/')"
        )
    return None


def reference_registry_and_tag(reference: str) -> tuple[str, str, str]:
    """``(repository, tag, host)`` of a valid reference: ``127.0.0.1:5000/a/b:1`` →
    ``("127.0.0.1:5000/a/b", "1", "127.0.0.1:5000")``; no tag means ``latest``; no host is
    Docker Hub (``docker.io``)."""
    match = _REFERENCE.match(reference)
    if match is None:
        raise ValueError(f"{reference!r} is not an image reference")
    host = match.group("host") or ""
    if host and not ("." in host or ":" in host or host == "localhost"):
        host = ""  # "team/app": the first component is a path, not a registry
    repository = reference.rsplit(":", 1)[0] if match.group("tag") else reference
    return repository, match.group("tag") or "latest", host.lower() or "docker.io"
