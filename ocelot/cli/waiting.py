"""How the CLI waits for a build to end: ``--wait`` and ``--follow`` of ``build``, ``rebuild``
and ``approve``, and ``logs --follow``.

* The fast path follows the build's log stream (``GET /builds/<id>/logs?follow=1``, SSE):
  ``log`` events carry ``{seq, stage, text}``, and the ``end`` event ``{status}`` comes as
  soon as the build's status is final, so waiting returns then. The final build is then
  fetched once, for the summary.
* When the stream cannot be opened (server down, an error status, a proxy in the way) or
  breaks off, :class:`BuildWaiter` polls ``GET /builds/<id>`` instead, at 0.2 … 3 s, as the
  CLI always did; a stream that printed the log is first reopened a few times (the server
  replays it, and ``seq`` skips what was printed).
* Ctrl-C stops the waiting, never the build: nothing is sent to the server on the way out,
  and the process exits 130 with a line saying how to look again.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

import click

from ocelot.cli.app import App
from ocelot.cli.client import Client
from ocelot.cli.output import stage_header
from ocelot.cli.sse import SseEvent
from ocelot.errors import DependencyUnavailable, OcelotError
from ocelot.status import FINISHED

POLL_INTERVALS = (0.2, 0.5, 1.0, 2.0, 3.0)  # seconds; the last one repeats
POLL_FAILURES = 5  # consecutive unreachable polls tolerated (a server restart)
RECONNECTS = 5  # times a broken log stream is reopened before giving up on it
RECONNECT_DELAY = 0.5  # seconds, times the attempt number
INTERRUPTED = 130  # exit code after Ctrl-C, as a shell reports a process ended by SIGINT

Chunk = dict[str, Any]


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (``--wait`` then follows the log unless ``--no-follow``)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


def event_data(text: str) -> dict[str, Any]:
    """The JSON object an event carries (``{}`` for any other JSON value)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise OcelotError(f"the log stream sent malformed data: {text[:80]!r}") from None
    return data if isinstance(data, dict) else {}


class LogPrinter:
    """Writes log chunks to stdout as they come, with :func:`stage_header` lines before the
    first chunk of each stage when ``headers`` is set (``app`` prints them)."""

    def __init__(self, app: App | None = None, *, headers: bool = False) -> None:
        self.app, self.headers = app, headers
        self.stage: str | None = None
        self.at_line_start = True

    def __call__(self, chunk: Chunk) -> None:
        stage = chunk.get("stage")
        if stage and stage != self.stage:
            self.stage = str(stage)
            if self.headers and self.app is not None:
                self.end_line()
                self.app.out.print(stage_header(self.stage), soft_wrap=True)
        text = str(chunk.get("text") or "")
        if text:
            click.echo(text, nl=False)
            self.at_line_start = text.endswith("\n")

    def end_line(self) -> None:
        """Finish a line the log left open, so what is printed next starts on its own."""
        if not self.at_line_start:
            click.echo("")
            self.at_line_start = True


class LogStream:
    """Follows one build's log stream to its ``end`` event, each chunk handed on once.

    The server replays the whole log on every connection; ``seq`` numbers let a reopened
    stream skip what was already handed on."""

    def __init__(self, client: Client, build_id: int, stage: str | None = None) -> None:
        self.client, self.build_id, self.stage = client, build_id, stage
        self.last_seq = 0
        self.events = 0  # events received, over all connections

    def _feed(self, events: Iterator[SseEvent], on_chunk: Callable[[Chunk], None]) -> str | None:
        """Hand on new chunks; the ``end`` status (``""`` when it has none) at ``end``, None
        when the stream stopped before it."""
        for event in events:
            self.events += 1
            if event.event == "log":
                chunk = event_data(event.data)
                seq = int(chunk.get("seq") or 0)
                if seq and seq <= self.last_seq:
                    continue  # replayed after a reconnect
                self.last_seq = max(self.last_seq, seq)
                on_chunk(chunk)
            elif event.event == "end":
                return str(event_data(event.data).get("status") or "")
        return None

    def follow(
        self,
        on_chunk: Callable[[Chunk], None],
        *,
        reconnects: int = RECONNECTS,
        on_break: Callable[[str], None] | None = None,
        reopen_silent: bool = True,
    ) -> str:
        """Hand on each chunk until the build ends; return the status of the ``end`` event
        (``""`` when it carries none).

        A stream that cannot be opened at all raises what opening it raised; one that broke
        off is reopened up to ``reconnects`` times (``on_break`` hears why, each time), then
        raises :class:`DependencyUnavailable`. Without ``reopen_silent``, a stream that broke
        off before its first event is not reopened (something in the way, not a hiccup)."""
        connected = False
        breaks = 0
        while True:
            seen = self.events
            try:
                events = self.client.follow_logs(self.build_id, self.stage)
            except DependencyUnavailable as exc:
                if not connected:
                    raise  # the server is down: say so now rather than retrying
                problem = exc.message
            else:
                connected = True
                try:
                    with closing(events):  # closes the connection, even when we stop at `end`
                        status = self._feed(events, on_chunk)
                    if status is not None:
                        return status
                    problem = "the log stream ended before the build did"
                except DependencyUnavailable as exc:
                    problem = exc.message
            breaks += 1
            if breaks > reconnects or (not reopen_silent and self.events == seen):
                gave_up = f" (gave up after {breaks - 1} reconnects)" if breaks > 1 else ""
                raise DependencyUnavailable(f"{problem}{gave_up}")
            if on_break is not None:
                on_break(problem)
            time.sleep(RECONNECT_DELAY * breaks)


@contextmanager
def ctrl_c_stops_following(
    app: App, build_id: int, what: str = "following", printer: LogPrinter | None = None
) -> Iterator[None]:
    """Turn Ctrl-C into exit code 130 and a note that the build goes on (it is not told)."""
    try:
        yield
    except KeyboardInterrupt:
        if printer is not None:
            printer.end_line()
        app.note(
            f"stopped {what}; build #{build_id} keeps running — "
            f"`ocelot status --build-id {build_id}`"
        )
        raise click.exceptions.Exit(INTERRUPTED) from None


def _progress(build: dict[str, Any]) -> str:
    line = f"build #{build.get('id')}: {build.get('status')}"
    if build.get("pending_reason"):
        line += f" ({build['pending_reason']})"
    return line


class BuildWaiter:
    """Waits for one build to end (see the module's docstring); ``show_log`` prints its log
    with a header per stage, else stage changes are noted on stderr."""

    def __init__(self, app: App, build: dict[str, Any], *, show_log: bool = False) -> None:
        self.app, self.build, self.show_log = app, build, show_log
        self.build_id = int(build["id"])
        self.printer = LogPrinter(app, headers=True)
        self.stage: str | None = None

    def run(self) -> dict[str, Any]:
        """The build once its status is final; Ctrl-C exits 130 (see ctrl_c_stops_following)."""
        if self.build.get("status") in FINISHED:
            return self.build
        what = "following" if self.show_log else "waiting"
        doing = "following its log" if self.show_log else "waiting"
        self.app.note(f"{_progress(self.build)}; {doing} (Ctrl-C stops {what}, not the build)")
        with ctrl_c_stops_following(self.app, self.build_id, what, self.printer):
            if self._follow():
                final = self._fetch()
                if final is not None and final.get("status") in FINISHED:
                    return final
            return self.poll()

    def _follow(self) -> bool:
        """Follow the stream to its ``end``; False when it is unavailable (then we poll)."""
        stream = LogStream(self.app.client, self.build_id)
        try:
            if self.show_log:
                stream.follow(self.printer, on_break=self._reconnecting, reopen_silent=False)
            else:
                stream.follow(self._note_stage, reconnects=0)
        except OcelotError as exc:
            if self.show_log:
                self.printer.end_line()
                self.app.note(
                    f"the live log is not available ({exc.message}); waiting for the build to"
                    f" end (`ocelot logs --build-id {self.build_id}` prints its log)"
                )
            return False
        self.printer.end_line()
        return True

    def _reconnecting(self, problem: str) -> None:
        self.printer.end_line()
        self.app.note(f"{problem}; reconnecting")

    def _note_stage(self, chunk: Chunk) -> None:
        stage = chunk.get("stage")
        if stage and stage != self.stage:
            self.stage = str(stage)
            self.app.note(f"build #{self.build_id}: stage {self.stage}")

    def _fetch(self) -> dict[str, Any] | None:
        try:
            self.build = self.app.client.build(self.build_id)
        except DependencyUnavailable:
            return None
        return self.build

    def poll(self) -> dict[str, Any]:
        """Ask for the build at growing intervals until its status is final; status changes
        are noted on stderr. Tolerates :data:`POLL_FAILURES` unreachable polls in a row."""
        build = self.build
        last = _progress(build)
        polls = failures = 0
        while build.get("status") not in FINISHED:
            time.sleep(POLL_INTERVALS[min(polls, len(POLL_INTERVALS) - 1)])
            polls += 1
            try:
                build = self.app.client.build(self.build_id)
            except DependencyUnavailable:
                failures += 1
                if failures > POLL_FAILURES:
                    raise
                continue
            failures = 0
            if (now := _progress(build)) != last:
                self.app.note(now)
                last = now
        self.build = build
        return build
