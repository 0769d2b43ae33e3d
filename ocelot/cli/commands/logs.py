"""``ocelot logs``: a build's output as plain text, or followed live until the build ends.

Following reads the server's SSE stream (``event: log`` with ``{seq, stage, text}``,
``event: end`` with ``{status}``). If the connection drops, it reconnects: the server
replays from the start and ``seq`` lets us skip what was already printed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import click

from ocelot.cli.app import HASH, REPO_OR_HASH, App, pass_app
from ocelot.cli.sse import SseEvent
from ocelot.errors import DependencyUnavailable, OcelotError
from ocelot.status import BuildStatus

RECONNECTS = 5
RECONNECT_DELAY = 0.5  # seconds, times the attempt number


def _data(event_data: str) -> dict[str, Any]:
    try:
        data = json.loads(event_data)
    except ValueError:
        raise OcelotError(f"the log stream sent malformed data: {event_data[:80]!r}") from None
    return data if isinstance(data, dict) else {}


class _Printer:
    """Writes log events to stdout once each, however often the stream is replayed."""

    def __init__(self) -> None:
        self.last_seq = 0

    def write(self, events: Iterator[SseEvent]) -> tuple[bool, str | None]:
        """Print what is new; ``(True, status)`` at ``end``, ``(False, None)`` at EOF."""
        for event in events:
            if event.event == "log":
                data = _data(event.data)
                seq = int(data.get("seq") or 0)
                if seq and seq <= self.last_seq:
                    continue  # replayed after a reconnect
                self.last_seq = max(self.last_seq, seq)
                click.echo(str(data.get("text") or ""), nl=False)
            elif event.event == "end":
                status = _data(event.data).get("status")
                return True, None if status is None else str(status)
        return False, None


def follow(app: App, build_id: int, stage: str | None) -> str | None:
    """Write the log as it comes; return the final status from the ``end`` event."""
    printer = _Printer()
    connected = False
    breaks = 0
    while True:
        try:
            events = app.client.follow_logs(build_id, stage)
        except DependencyUnavailable as exc:
            if not connected:
                raise  # the server is down: say so now rather than retrying
            problem = exc.message
        else:
            connected = True
            try:
                with closing(events):  # closes the connection, even when we stop at `end`
                    ended, status = printer.write(events)
                if ended:
                    return status
                problem = "the log stream ended before the build did"
            except DependencyUnavailable as exc:
                problem = exc.message
        breaks += 1
        if breaks > RECONNECTS:
            raise DependencyUnavailable(f"{problem} (gave up after {RECONNECTS} reconnects)")
        app.note(f"{problem}; reconnecting")
        time.sleep(RECONNECT_DELAY * breaks)


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
