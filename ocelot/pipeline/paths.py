"""The ``paths:`` filter of a pipeline: globs matched against the changed files of a build.

A pipeline with ``paths:`` builds only when some changed file matches some glob. Globs are
matched against the whole path from the repository root (as git prints it, ``/``-separated):

* ``*`` — any characters within one path segment (never ``/``): ``requirements*.txt`` is
  ``requirements.txt`` or ``requirements-dev.txt`` at the root, not ``lib/requirements.txt``;
* ``**`` — any number of segments, zero included: ``**/*.py``, ``docker/**``,
  ``src/**/test_*.py``; ``**`` elsewhere in a segment matches any characters, ``/`` too;
* ``?`` — one character, not ``/``; ``[abc]``, ``[a-z]``, ``[!abc]`` — one of (not) these;
* a trailing ``/`` means everything under that directory (``docs/`` is ``docs/**``);
  a leading ``/`` is dropped (globs are relative to the root anyway); ``\\x`` is ``x``.

When the changeset is not known (a build from the CLI, the API or a rebuild names a commit,
not a change; a force push whose old commit git no longer has), the filter cannot tell, so
the pipeline **builds**: building once too often is cheaper than silently not testing a
change. Globs are compiled with RE2, like branch patterns, so matching is linear in time.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import re2

from ocelot.errors import ConfigError

MAX_GLOB_LENGTH = 500


def glob_regex(pattern: str) -> str:
    """The regular expression (for a whole-path match) of ``pattern``; ConfigError with the
    reason when it is not a glob."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ConfigError("a paths glob must be a non-empty string")
    if len(pattern) > MAX_GLOB_LENGTH:
        raise ConfigError(f"glob {pattern[:40]!r}... is longer than {MAX_GLOB_LENGTH} characters")
    text = pattern.lstrip("/")
    if not text:
        raise ConfigError(f"glob {pattern!r} names no path")
    if text.endswith("/"):
        text += "**"
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        segment_start = i == 0 or text[i - 1] == "/"
        if text.startswith("**/", i) and segment_start:
            out.append("(?:.*/)?")
            i += 3
        elif text.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            regex, i = _char_class(pattern, text, i)
            out.append(regex)
        elif char == "\\":
            if i + 1 >= len(text):
                raise ConfigError(f"glob {pattern!r} ends with a lone backslash")
            out.append(re2.escape(text[i + 1]))
            i += 2
        else:
            out.append(re2.escape(char))
            i += 1
    return "".join(out)


def _char_class(pattern: str, text: str, start: int) -> tuple[str, int]:
    """``[...]`` at ``text[start]`` as a regex class that never matches ``/``; the index
    after it."""
    i = start + 1
    negate = i < len(text) and text[i] in "!^"
    if negate:
        i += 1
    members: list[str] = []
    first = True
    while i < len(text) and (text[i] != "]" or first):
        char = text[i]
        if char == "/":
            raise ConfigError(f"glob {pattern!r}: '/' cannot be inside [...]")
        if char == "-" and members and i + 1 < len(text) and text[i + 1] != "]":
            members.append("-")
        else:
            members.append("\\" + char if char in "\\^]-[" else char)
        first = False
        i += 1
    if i >= len(text):
        raise ConfigError(f"glob {pattern!r}: '[' is never closed with ']'")
    body = "".join(members)
    return (f"[^/{body}]" if negate else f"[{body}]"), i + 1


@functools.lru_cache(maxsize=512)
def compile_glob(pattern: str) -> Any:
    """The compiled glob (RE2; ``fullmatch`` a path); ConfigError naming it when invalid."""
    regex = glob_regex(pattern)
    try:
        return re2.compile(regex)
    except re2.error as exc:
        raise ConfigError(f"glob {pattern!r} cannot be used: {exc}") from None


def first_match(globs: Sequence[str], files: Iterable[str]) -> tuple[str, str] | None:
    """``(file, glob)`` of the first changed file that a glob matches, or None."""
    compiled = [(glob, compile_glob(glob)) for glob in globs]
    for path in files:
        for glob, regex in compiled:
            if regex.fullmatch(path) is not None:
                return path, glob
    return None


def known_files(changeset: Mapping[str, Any] | None) -> list[str] | None:
    """The changed files of a build's changeset, or None when they are not known: no
    changeset (CLI, API, rebuild of one), or one git could not complete (see
    :mod:`ocelot.services.changesets`)."""
    if not changeset or changeset.get("incomplete") or changeset.get("base_unknown"):
        return None
    files = changeset.get("files")
    if not isinstance(files, list):
        return None
    return [f for f in files if isinstance(f, str)]


def paths_verdict(globs: Sequence[str], changeset: Mapping[str, Any] | None) -> tuple[bool, str]:
    """Whether a pipeline with ``paths: globs`` builds on ``changeset``, and why."""
    if not globs:
        return True, "no paths filter"
    files = known_files(changeset)
    if files is None:
        return True, "the changed files are not known, so the paths filter lets it build"
    found = first_match(globs, files)
    if found is not None:
        return True, f"{found[0]} matches paths glob {found[1]!r}"
    shown = ", ".join(globs)
    count = len(files)
    return False, (
        f"no changed file matches paths: {shown} ({count} file{'s' if count != 1 else ''} changed)"
    )
