"""The build context of an image stage: a tar of a workspace directory turned into the tar
Docker builds from, and the content digest that says whether an image can be reused.

:func:`repack` reads the tar Docker's ``get_archive`` gives for ``/workspace/<context>``
(every name under one top directory), writes a tar whose names are relative to the context,
leaves out every ``.git`` directory and what the context's ``.dockerignore`` excludes (read
by :func:`ignore_patterns`, matched with docker-py's own matcher, the rules of
``docker build``: the Dockerfile and ``.dockerignore`` are always sent), and hashes what it
keeps, so a change to an ignored file neither reaches the image nor defeats its reuse.
:func:`context_digest` turns those hashes, the Dockerfile and the build arguments into the
label value ``ocelot.context``: the same Dockerfile, files (names, types, modes, contents,
link targets; not owners or times) and build arguments give the same digest, in any order
and on any host.

:func:`base_images` lists a Dockerfile's ``FROM`` images, so the runner can refuse an image a
build may not use before Docker is asked (see :mod:`ocelot.runner.secrets`).
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

import re2
from docker.utils.build import PatternMatcher
from docker.utils.fnmatch import translate

from ocelot.errors import ExecutorError

DIGEST_VERSION = "ocelot-image-context-v1"
MOVED_DOCKERFILE = ".ocelot.Dockerfile"
"""Where a Dockerfile from outside the context goes in the context tar."""

_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)", re.IGNORECASE | re.MULTILINE)


@dataclass
class Repacked:
    """What :func:`repack` kept: one line per entry (sorted later), and the files' bytes
    wanted back (the Dockerfile)."""

    entries: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    count: int = 0


def _relative(name: str, top: str) -> str | None:
    """``name`` relative to the archive's top directory; None for the top itself."""
    name = (name[2:] if name.startswith("./") else name).rstrip("/")
    if name == top or not name:
        return None
    prefix = top + "/"
    return name[len(prefix) :] if name.startswith(prefix) else name


def ignore_patterns(dockerignore: bytes | None) -> list[str]:
    """The patterns of a ``.dockerignore`` file (comments and blank lines dropped)."""
    if not dockerignore:
        return []
    lines = dockerignore.decode("utf-8", "replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _matcher(patterns: list[str]) -> PatternMatcher:
    """docker-py's ``.dockerignore`` matcher (its rules: parent directories, ``!``
    exceptions), each pattern's regular expression run by RE2 instead of ``re``: the file
    comes from the repository, and a pattern such as ``*a*a*a*a*a*a*a*a*b`` would make
    ``re`` backtrack for minutes on one long name, holding the worker, not the build."""
    matcher = PatternMatcher(patterns)
    for pattern in matcher.patterns:
        try:  # docker-py matches case-insensitively
            regex = re2.compile(translate(pattern.cleaned_pattern.lower()))
        except re2.error as exc:
            raise ExecutorError(
                f".dockerignore pattern {pattern.cleaned_pattern!r} cannot be used: {exc}"
            ) from None
        pattern.match = lambda path, regex=regex: regex.match(path.lower()) is not None
    return matcher


def repack(
    source: IO[bytes],
    top: str,
    out: IO[bytes],
    keep: tuple[str, ...] = (),
    ignore: list[str] | None = None,
) -> Repacked:
    """Copy the tar ``source`` (names under ``top``) to ``out`` with names relative to
    ``top``, without ``.git`` nor what the ``.dockerignore`` patterns ``ignore`` exclude;
    ``keep``: relative paths whose bytes to return as well (never excluded)."""
    found = Repacked()
    matcher = _matcher(list(ignore) + [f"!{name}" for name in keep]) if ignore else None
    with (
        tarfile.open(fileobj=source, mode="r|*") as src,
        tarfile.open(fileobj=out, mode="w") as dst,
    ):
        for member in src:
            name = _relative(member.name, top)
            if name is None or ".git" in name.split("/"):
                continue
            if matcher is not None and matcher.matches(name):
                continue
            member.name = name
            mode = f"{member.mode & 0o7777:o}"
            if member.isfile():
                data = src.extractfile(member)
                content = data.read() if data is not None else b""
                found.entries.append(f"f {mode} {hashlib.sha256(content).hexdigest()} {name}")
                if name in keep:
                    found.files[name] = content
                member.size = len(content)
                dst.addfile(member, _Bytes(content))
            else:
                kind = "d" if member.isdir() else "l" if member.issym() else "h"
                if member.islnk():
                    target = _relative(member.linkname, top) or ""
                    member.linkname = target
                else:
                    target = member.linkname
                found.entries.append(f"{kind} {mode} {name} -> {target}")
                dst.addfile(member)
            found.count += 1
    return found


class _Bytes:
    """A minimal readable file over bytes for ``TarFile.addfile``."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.pos + size
        chunk, self.pos = self.data[self.pos : end], min(end, len(self.data))
        return chunk


def add_file(out: IO[bytes], name: str, content: bytes) -> None:
    """Append one file to the (uncompressed) tar ``out``, positioned at its end marker."""
    out.seek(0)
    with tarfile.open(fileobj=out, mode="a") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(content), 0o644
        tar.addfile(info, _Bytes(content))


def context_digest(
    entries: list[str], dockerfile: str, dockerfile_text: bytes, build_args: Mapping[str, str]
) -> str:
    """``sha256:<hex>`` over the sorted entries, the Dockerfile's path and bytes, and the
    build arguments."""
    digest = hashlib.sha256()
    digest.update(DIGEST_VERSION.encode() + b"\n")
    for line in sorted(entries):
        digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
    digest.update(f"dockerfile {dockerfile} ".encode())
    digest.update(hashlib.sha256(dockerfile_text).hexdigest().encode() + b"\n")
    digest.update(json.dumps(dict(build_args), sort_keys=True).encode())
    return "sha256:" + digest.hexdigest()


def base_images(dockerfile_text: str) -> list[str]:
    """The images of the Dockerfile's ``FROM`` lines (``--platform=...`` skipped), except
    those naming an earlier stage (``FROM build AS ...`` after ``... AS build``)."""
    stages: set[str] = set()
    images: list[str] = []
    for line in dockerfile_text.splitlines():
        match = _FROM.match(line)
        if match is None:
            continue
        image = match.group(1)
        if image.lower() not in stages:
            images.append(image)
        alias = re.search(r"\s+AS\s+(\S+)\s*$", line, re.IGNORECASE)
        if alias:
            stages.add(alias.group(1).lower())
    return images
