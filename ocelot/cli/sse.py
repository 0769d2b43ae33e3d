"""A minimal Server-Sent Events parser (the subset the log stream uses).

Follows the WHATWG event-stream rules that matter here: ``field: value`` lines (one optional
space after the colon is dropped), several ``data`` lines joined with newlines, comment lines
starting with ``:`` (the server's keep-alives) ignored, and a blank line dispatching the event.
An event without ``data`` is not dispatched; a half event at end of stream is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event: its type (``message`` when unnamed) and its data text."""

    event: str
    data: str
    id: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Turn decoded lines (without their line endings) into events as they complete."""
    event = ""
    data: list[str] = []
    last_id: str | None = None
    for line in lines:
        if line == "":
            if data:
                yield SseEvent(event or "message", "\n".join(data), last_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
        # "retry" and unknown fields are ignored, as the spec says.
