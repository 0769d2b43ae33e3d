"""State shared by the commands of one ``ocelot`` run, and how they find a repo or a build.

:class:`App` is the click context object. Config, consoles, the REST client and the git
checkout are created on first use, so offline commands (``init``, ``validate``, ``admin``)
never read the client config or run git.

Finding things (the rules users depend on, see README "Your first build"):

* ``ACCT/REPO`` left out → ``origin`` of the checkout we run in.
* a bare ``REPO`` → the one tracked repository of that name (the server is asked; several or
  none is an error naming them). Where a command is about one build (``status``, ``logs``,
  ``kill``), a bare word no tracked repository is named after that looks like a hash is the
  commit, as with ``--hash``.
* ``--hash`` left out inside a checkout of that repo → ``HEAD``.
* a hash may be a prefix: the newest matching build wins; other matching commits are listed
  on stderr.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from ocelot.cli import gitinfo
from ocelot.cli.client import Client
from ocelot.cli.config import ClientConfig, load_client_config
from ocelot.cli.output import make_console, style_for
from ocelot.errors import NotFound, NotTracked

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_HASH = re.compile(r"^[0-9a-fA-F]{4,64}$")
MATCH_LIMIT = 50


class HashArg(str):
    """A positional ``[ACCT/REPO]`` that turned out to be a commit hash (prefix)."""

    __slots__ = ()


class RepoName(click.ParamType):
    """``ACCT/REPO`` (two names joined by one slash), or a bare ``REPO`` that exactly one
    tracked repository is named (the server is asked). ``strict``: ``ACCT/REPO`` only (a
    repository to start tracking). ``hashes``: a bare word that names no tracked repository
    but looks like a commit hash is one (:class:`HashArg`)."""

    name = "ACCT/REPO"

    def __init__(self, *, strict: bool = False, hashes: bool = False) -> None:
        self.strict, self.hashes = strict, hashes

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().removesuffix(".git")
        if _REPO.match(text):
            return text
        if self.strict or not _NAME.match(text):
            how = "ACCT/REPO" if self.strict else "ACCT/REPO or the name of a tracked repository"
            self.fail(f"{value!r} is not of the form {how} (e.g. acme/demo)", param, ctx)
        app = ctx.ensure_object(App) if ctx is not None else App()
        found = app.repos_named(text)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            self.fail(
                f"{text} is the name of {len(found)} tracked repositories: "
                f"{', '.join(found)}; say which as ACCT/REPO",
                param,
                ctx,
            )
        if self.hashes and _HASH.match(text):
            return HashArg(text.lower())
        raise NotTracked(text)


class CommitHash(click.ParamType):
    """A commit hash or a prefix of at least 4 hex digits."""

    name = "HASH"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().lower()
        if not _HASH.match(text):
            self.fail(f"{value!r} is not a commit hash (4 to 64 hex digits)", param, ctx)
        return text


REPO = RepoName()
NEW_REPO = RepoName(strict=True)  # a repository to start tracking: ACCT/REPO in full
REPO_OR_HASH = RepoName(hashes=True)  # commands about one build: `ocelot status a1b2c3d`
HASH = CommitHash()


class App:
    """One run of the CLI: lazily built config, consoles, client and checkout."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env

    @cached_property
    def config(self) -> ClientConfig:
        return load_client_config(self.env)

    @cached_property
    def out(self) -> Console:
        return make_console(self.config)

    @cached_property
    def err(self) -> Console:
        return make_console(self.config, stderr=True)

    @cached_property
    def client(self) -> Client:
        return Client(self.config.url, self.config.token)

    @cached_property
    def checkout(self) -> gitinfo.Checkout | None:
        return gitinfo.detect()

    def note(self, message: str) -> None:
        """A remark for a human on stderr (stdout stays clean for pipes)."""
        self.err.print(Text(message, style=style_for("note")), soft_wrap=True)

    # -- finding a repo -------------------------------------------------------------------

    def repos_named(self, name: str) -> list[str]:
        """``ACCT/REPO`` of every tracked repository called ``name`` (case-insensitively)."""
        names = (str(r.get("full_name") or "") for r in self.client.repos())
        return sorted(n for n in names if n.partition("/")[2].lower() == name.lower())

    def repo_or_none(self, explicit: str | None) -> str | None:
        """The named repo, else origin of the checkout, else None."""
        if explicit:
            return explicit
        return self.checkout.repo if self.checkout else None

    def repo(self, explicit: str | None) -> str:
        """Like :meth:`repo_or_none` but the user must be told when there is none."""
        repo = self.repo_or_none(explicit)
        if repo is None:
            where = (
                "this checkout has no origin remote"
                if self.checkout
                else "not inside a git checkout"
            )
            raise click.UsageError(f"name the repository as ACCT/REPO ({where})")
        return repo

    def local_checkout_of(self, repo: str) -> gitinfo.Checkout | None:
        """The checkout we run in, if it is a checkout of ``repo``."""
        checkout = self.checkout
        if checkout and checkout.repo and checkout.repo.lower() == repo.lower():
            return checkout
        return None

    # -- finding a build ------------------------------------------------------------------

    def build_by_hash(
        self, repo: str | None, prefix: str, pipeline: str | None = None
    ) -> dict[str, Any]:
        """The newest build whose hash starts with ``prefix`` (of ``repo``, or of any repo;
        of ``pipeline`` only, when given)."""
        builds = self.client.builds(repo, hash_prefix=prefix, limit=MATCH_LIMIT, pipeline=pipeline)
        builds.sort(key=lambda b: int(b.get("id") or 0), reverse=True)
        if not builds:
            what = f" of pipeline {pipeline}" if pipeline else ""
            raise NotFound(f"no build{what} of {repo or 'any repository'} matches hash {prefix}")
        newest = builds[0]
        others = []
        for build in builds[1:]:
            label = _commit_label(build, with_repo=repo is None)
            if build.get("hash") != newest.get("hash") and label not in others:
                others.append(label)
        if others:
            chosen = _commit_label(newest, with_repo=repo is None)
            self.note(
                f"hash {prefix} matches several commits; using the newest build "
                f"#{newest.get('id')} ({chosen}). Also matching: {', '.join(others)}"
            )
        return newest

    def find_build(
        self,
        explicit_repo: str | None,
        hash_prefix: str | None,
        build_id: int | None,
        *,
        fall_back_to_latest: bool = True,
        pipeline: str | None = None,
    ) -> dict[str, Any]:
        """The build a command is about: by id, by hash (prefix), by HEAD, or the latest
        (of ``pipeline`` only, when given). ``explicit_repo`` may be a :class:`HashArg`
        (``ocelot status a1b2c3d``)."""
        if isinstance(explicit_repo, HashArg):
            if hash_prefix or build_id is not None:
                raise click.UsageError(
                    f"{explicit_repo} names no tracked repository, so it is taken as a commit:"
                    " do not give --hash or --build-id as well"
                )
            explicit_repo, hash_prefix = None, str(explicit_repo)
        if build_id is not None:
            build = self.client.build(build_id)
            if explicit_repo and str(build.get("repo", "")).lower() != explicit_repo.lower():
                self.client.repo(explicit_repo)  # NotTracked (exit 3) when it is not tracked
                raise NotFound(
                    f"build {build_id} belongs to {build.get('repo')}, not {explicit_repo}"
                )
            return build
        if hash_prefix:
            return self.build_by_hash(self.repo_or_none(explicit_repo), hash_prefix, pipeline)
        repo = self.repo(explicit_repo)
        checkout = self.local_checkout_of(repo)
        if checkout and checkout.head:
            found = self.client.builds(repo, hash_prefix=checkout.head, limit=1, pipeline=pipeline)
            if found:
                return found[0]
            if not fall_back_to_latest:
                raise NotFound(
                    f"no build of {repo} for HEAD {checkout.head[:7]}; give --hash or --build-id"
                )
            self.note(f"no build of HEAD {checkout.head[:7]} yet; showing the latest of {repo}")
        latest = self.client.builds(repo, limit=1, pipeline=pipeline)
        if not latest and pipeline:
            raise NotFound(f"{repo} has no builds of pipeline {pipeline} yet")
        if not latest:
            raise NotFound(f"{repo} has no builds yet (queue one with `ocelot build {repo}`)")
        return latest[0]


def _commit_label(build: Mapping[str, Any], *, with_repo: bool) -> str:
    short = str(build.get("hash_short") or str(build.get("hash") or "")[:7])
    return f"{build.get('repo')}@{short}" if with_repo else short


pass_app = click.make_pass_decorator(App, ensure=True)
