"""Build commands: ``build``, ``status``, ``summary``, ``kill``, ``rebuild``, ``approve``,
``decline``.

``--wait`` returns when the build ends and exits 0 only for ``PASSED``; ``--follow`` also
prints the log as it comes, with a line naming each stage (the default for ``--wait`` when
stdout is a terminal). How the waiting is done (the log stream's ``end`` event, polling when
the stream is unavailable, Ctrl-C) is :mod:`ocelot.cli.waiting`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from rich.text import Text

from ocelot.cli import gitinfo
from ocelot.cli.app import HASH, REPO, REPO_OR_HASH, App, pass_app
from ocelot.cli.output import build_view, status_text, summary_table
from ocelot.cli.waiting import BuildWaiter, stdout_is_terminal
from ocelot.status import FINISHED, BuildStatus

F = TypeVar("F", bound=Callable[..., Any])


def wait_options(command: F) -> F:
    """``--wait`` and ``--follow/--no-follow``; the command gets ``wait`` and ``follow``."""
    command = click.option(
        "--follow/--no-follow",
        "follow",
        default=None,
        help="Print the build's log as it runs, with a line naming each stage (implies"
        " --wait). The default for --wait when stdout is a terminal.",
    )(command)
    return click.option(
        "--wait",
        is_flag=True,
        help="Wait until the build ends; exit 0 if it PASSED, else 1 (Ctrl-C: 130, and the"
        " build goes on).",
    )(command)


def show_final(app: App, build: dict[str, Any]) -> NoReturn:
    """Print a finished build as ``status`` does and exit 0 if it passed, else 1."""
    app.out.print(build_view(build))
    status = build.get("status")
    if status == BuildStatus.PASSED:
        raise click.exceptions.Exit(0)
    line = Text(f"build #{build.get('id')} ").append_text(status_text(status))
    if build.get("failure_reason"):
        line.append(f": {build['failure_reason']}")
    app.err.print(line)
    raise click.exceptions.Exit(1)


def _queued(app: App, build: dict[str, Any], wait: bool, follow: bool | None, what: str) -> None:
    """Say what was queued; with ``wait`` (or ``follow``), wait for its end and exit by it."""
    commit = build.get("hash_short") or build.get("hash") or ""
    where = " @ ".join(str(x) for x in (build.get("branch"), commit) if x)
    click.echo(
        f"queued build #{build.get('id')} of {build.get('repo')}"
        f"{f' ({where})' if where else ''}{what}"
    )
    if wait or follow:
        show_log = stdout_is_terminal() if follow is None else follow
        show_final(app, BuildWaiter(app, build, show_log=show_log).run())


@click.command("build")
@click.argument("repo", type=REPO, required=False, metavar="[ACCT/REPO]")
@click.option("--hash", "hash_", type=HASH, metavar="H", help="Commit to build (a prefix is ok).")
@click.option("--branch", "-b", metavar="B", help="Branch to build (its head unless --hash).")
@click.option("--force", is_flag=True, help="Build even if the branch filter would refuse it.")
@click.option(
    "--pipeline",
    "-p",
    metavar="NAME",
    help="Build only this pipeline (default = ocelot.yml, NAME = .ocelot/NAME.yml).",
)
@wait_options
@pass_app
def build(
    app: App,
    repo: str | None,
    hash_: str | None,
    branch: str | None,
    force: bool,
    pipeline: str | None,
    wait: bool,
    follow: bool | None,
) -> None:
    """Queue a build of ACCT/REPO.

    Inside a checkout, ACCT/REPO defaults to the origin remote, and with neither --hash nor
    --branch the current branch at HEAD is built (the server fetches it from the repo's
    URL, so push first).

    Without --pipeline this is an event like a push: the build shown runs ocelot.yml, and
    every other pipeline of the commit (.ocelot/*.yml) that the branch matches gets a build
    of its own (`ocelot summary` lists them). --wait waits for the build shown.
    """
    full_name = app.repo(repo)
    checkout = app.local_checkout_of(full_name)
    if checkout:
        if not hash_ and not branch:
            hash_, branch = checkout.head, checkout.branch
        elif hash_ and len(hash_) < 40:
            hash_ = gitinfo.expand_hash(hash_, checkout.root) or hash_
    if not hash_ and not branch:
        raise click.UsageError("say what to build: --branch B, --hash H or both")
    if pipeline is not None:
        from ocelot.pipeline.layout import name_problem

        if (problem := name_problem(pipeline)) is not None:
            raise click.BadParameter(problem, param_hint="--pipeline")
    created = app.client.create_build(
        full_name, branch=branch, hash=hash_, force=force, pipeline=pipeline
    )
    what = f" (pipeline {pipeline})" if pipeline else ""
    _queued(app, created, wait, follow, what + (" (forced)" if force else ""))


@click.command("status")
@click.argument("repo", type=REPO_OR_HASH, required=False, metavar="[ACCT/REPO]")
@click.option("--hash", "hash_", type=HASH, metavar="H", help="Commit (prefix) of the build.")
@click.option("--build-id", type=int, metavar="N", help="Show build N.")
@click.option("--pipeline", "-p", metavar="NAME", help="The build of this pipeline only.")
@pass_app
def status(
    app: App, repo: str | None, hash_: str | None, build_id: int | None, pipeline: str | None
) -> None:
    """Show the latest matching build: who, when, how long, and every stage.

    ACCT/REPO may be a bare REPO name when one tracked repository has it, or a commit hash.
    Inside a checkout the build of HEAD is shown (or the latest one, if HEAD has none).
    A commit with several pipelines has a build of each: --pipeline picks one.
    """
    if pipeline and build_id is not None:
        raise click.UsageError("give --pipeline or --build-id, not both")
    app.out.print(build_view(app.find_build(repo, hash_, build_id, pipeline=pipeline)))


@click.command("summary")
@click.argument("repo", type=REPO, required=False, metavar="[ACCT/REPO]")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(1, 500),
    default=20,
    show_default=True,
    help="How many builds to list.",
)
@click.option("--branch", "-b", metavar="B", help="Only builds of branch B.")
@click.option("--hash", "hash_", type=HASH, metavar="H", help="Only builds of commit H (prefix).")
@click.option("--pipeline", "-p", metavar="NAME", help="Only builds of pipeline NAME.")
@pass_app
def summary(
    app: App,
    repo: str | None,
    limit: int,
    branch: str | None,
    hash_: str | None,
    pipeline: str | None,
) -> None:
    """List recent builds of ACCT/REPO, newest first (of every repo outside a checkout).
    A pipeline column appears when some build ran another pipeline than default."""
    full_name = app.repo_or_none(repo)
    rows = app.client.builds(
        full_name, hash_prefix=hash_, branch=branch, limit=limit, pipeline=pipeline
    )
    if not rows:
        what = f"{full_name or 'any repository'}{f' at {hash_}' if hash_ else ''}"
        what += f" of pipeline {pipeline}" if pipeline else ""
        app.note(f"no builds of {what} yet")
        return
    app.out.print(summary_table(rows, with_repo=full_name is None))


@click.command("kill")
@click.argument("repo", type=REPO_OR_HASH, required=False, metavar="[ACCT/REPO]")
@click.option("--hash", "hash_", type=HASH, metavar="H", help="Commit (prefix) of the build.")
@click.option("--build-id", type=int, metavar="N", help="Kill build N.")
@pass_app
def kill(app: App, repo: str | None, hash_: str | None, build_id: int | None) -> None:
    """Stop a queued or running build (the latest matching one)."""
    if hash_ and build_id is not None:
        raise click.UsageError("give --hash or --build-id, not both")
    target = app.find_build(repo, hash_, build_id, fall_back_to_latest=False)
    killed = app.client.kill(int(target["id"]))
    line = Text(f"build #{killed.get('id')} ").append_text(status_text(killed.get("status")))
    if killed.get("failure_reason"):
        line.append(f": {killed['failure_reason']}")
    elif killed.get("status") not in FINISHED:
        line.append(": asked to stop; the worker stops it shortly")
    app.out.print(line)


@click.command("rebuild")
@click.option("--build-id", type=int, metavar="N", required=True, help="The build to repeat.")
@wait_options
@pass_app
def rebuild(app: App, build_id: int, wait: bool, follow: bool | None) -> None:
    """Queue build N's commit again, as a new build."""
    created = app.client.rebuild(build_id)
    _queued(app, created, wait, follow, f" (rebuild of #{build_id})")


@click.command("approve")
@click.argument("build_id", type=int, metavar="N")
@wait_options
@pass_app
def approve(app: App, build_id: int, wait: bool, follow: bool | None) -> None:
    """Let build N, an untrusted pull request waiting for approval, run.

    Read its changes first: it runs the pull request's ocelot.yml and scripts. It still
    gets no credentials and never runs outside a Docker container.
    """
    approved = app.client.approve(build_id)
    _queued(app, approved, wait, follow, f" (approved by {approved.get('approved_by')})")


@click.command("decline")
@click.argument("build_id", type=int, metavar="N")
@pass_app
def decline(app: App, build_id: int) -> None:
    """End build N, an untrusted pull request waiting for approval, without running it."""
    declined = app.client.decline(build_id)
    line = Text(f"build #{declined.get('id')} ").append_text(status_text(declined.get("status")))
    if declined.get("failure_reason"):
        line.append(f": {declined['failure_reason']}")
    app.out.print(line)
