"""``ocelot logs``: a build's output as plain text, or followed live until the build ends.

Following reads the server's SSE stream with :class:`~ocelot.cli.waiting.LogStream` (the
reader ``build --follow`` uses too): ``event: log`` with ``{seq, stage, text}``, ``event: end``
with ``{status}``. If the connection drops, it reconnects: the server replays from the start
and ``seq`` lets us skip what was already printed. Ctrl-C stops following (exit 130), not the
build.
"""

from __future__ import annotations

import click

from ocelot.cli.app import HASH, REPO_OR_HASH, App, pass_app
from ocelot.cli.waiting import LogPrinter, LogStream, ctrl_c_stops_following
from ocelot.status import BuildStatus


def follow(app: App, build_id: int, stage: str | None) -> str | None:
    """Write the log as it comes; return the final status from the ``end`` event."""
    printer = LogPrinter()
    with ctrl_c_stops_following(app, build_id, printer=printer):
        status = LogStream(app.client, build_id, stage).follow(
            printer, on_break=lambda problem: app.note(f"{problem}; reconnecting")
        )
    return status or None


@click.command("logs")
@click.argument("repo", type=REPO_OR_HASH, required=False, metavar="[ACCT/REPO]")
@click.option("--hash", "hash_", type=HASH, metavar="H", help="Commit (prefix) of the build.")
@click.option("--build-id", type=int, metavar="N", help="Logs of build N.")
@click.option(
    "--follow",
    "-f",
    "follow_log",
    is_flag=True,
    help="Stream the log until the build ends; exit 0 if it PASSED, else 1.",
)
@click.option("--stage", "-s", metavar="S", help="Only the output of stage S.")
@pass_app
def logs(
    app: App,
    repo: str | None,
    hash_: str | None,
    build_id: int | None,
    follow_log: bool,
    stage: str | None,
) -> None:
    """Print the log of the latest matching build (HEAD's, inside a checkout).

    The output is plain text, as the stages wrote it, on stdout.
    """
    if hash_ and build_id is not None:
        raise click.UsageError("give --hash or --build-id, not both")
    target = app.find_build(repo, hash_, build_id)
    target_id = int(target["id"])
    if not follow_log:
        click.echo(app.client.logs(target_id, stage), nl=False)
        return
    final = follow(app, target_id, stage)
    app.note(f"build #{target_id} ended: {final}")
    raise click.exceptions.Exit(0 if final == BuildStatus.PASSED else 1)
