"""Build logs: durable, batched writes as output arrives, and live publication on Redis.

Writers (the worker) append :class:`~ocelot.models.LogChunk` rows every ``flush_seconds`` or
``flush_bytes``, whichever comes first, and publish each chunk on ``ocelot:logs:<build id>``
*after* its row is committed. Followers (the web app) subscribe first, replay what is stored,
then tail the channel, using ``seq`` to drop duplicates and to fill any gap from the database;
so a follower sees every chunk exactly once, in order, even if a publication is lost.
"""

from __future__ import annotations

import codecs
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import Build, LogChunk
from ocelot.models.build import FINISHED

Redactor = Callable[[str], str]


def channel(build_id: int) -> str:
    return f"ocelot:logs:{build_id}"


def _identity(line: str) -> str:
    return line


class LogWriter:
    """Collects a build's output and stores it in batches; thread-safe ``write``."""

    def __init__(
        self,
        engine: Engine,
        redis: Any,
        build_id: int,
        attempt: int,
        *,
        flush_seconds: float = 0.25,
        flush_bytes: int = 64 * 1024,
        redact: Redactor = _identity,
    ) -> None:
        self.engine, self.redis = engine, redis
        self.build_id, self.attempt = build_id, attempt
        self.flush_seconds, self.flush_bytes = flush_seconds, flush_bytes
        self.redact = redact
        self.stage: str | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._partial_since: float | None = None
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        with session_scope(engine) as session:
            last = session.scalar(
                select(func.max(LogChunk.seq)).where(LogChunk.build_id == build_id)
            )
        self._seq = int(last or 0)

    def __enter__(self) -> LogWriter:
        self._thread = threading.Thread(target=self._ticker, daemon=True, name="log-flush")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ticker(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush(partial_after=1.0)

    def set_stage(self, name: str | None) -> None:
        self.flush(partial_after=0)
        self.stage = name

    def write(self, data: bytes) -> None:
        """Take raw output; complete lines are redacted and queued for the next flush."""
        text = self._decoder.decode(data)
        with self._lock:
            self._partial += text
            if "\n" in self._partial:
                *lines, self._partial = self._partial.split("\n")
                for line in lines:
                    self._queue_line(line)
            if not self._partial:
                self._partial_since = None
            elif self._partial_since is None:
                self._partial_since = time.monotonic()
            big = self._pending_bytes >= self.flush_bytes or len(self._partial) >= self.flush_bytes
        if big:
            self.flush(partial_after=0)

    def line(self, text: str) -> None:
        """Add one line of Ocelot's own (stage banners, errors)."""
        self.write((text.rstrip("\n") + "\n").encode())

    def _queue_line(self, line: str) -> None:
        redacted = self.redact(line) + "\n"
        self._pending.append(redacted)
        self._pending_bytes += len(redacted)

    def flush(self, partial_after: float = 0) -> None:
        """Store and publish what is pending. A line without its newline yet is included
        once it has waited ``partial_after`` seconds (so progress bars still show up)."""
        with self._io_lock:
            with self._lock:
                since = self._partial_since
                if (
                    self._partial
                    and since is not None
                    and time.monotonic() - since >= partial_after
                ):
                    self._queue_line(self._partial)
                    self._partial, self._partial_since = "", None
                if not self._pending:
                    return
                text = "".join(self._pending)
                self._pending, self._pending_bytes = [], 0
                self._seq += 1
                seq, stage = self._seq, self.stage
            with session_scope(self.engine) as session:
                session.add(
                    LogChunk(
                        build_id=self.build_id,
                        seq=seq,
                        attempt=self.attempt,
                        stage=stage,
                        text=text,
                    )
                )
            self._publish({"seq": seq, "stage": stage, "text": text})

    def _publish(self, payload: dict[str, Any]) -> None:
        if self.redis is None:
            return
        try:
            self.redis.publish(channel(self.build_id), json.dumps(payload))
        except Exception:  # noqa: BLE001 - the DB copy is the truth; followers fill gaps
            pass

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        tail = self._decoder.decode(b"", final=True)
        if tail:
            with self._lock:
                self._partial += tail
        self.flush(partial_after=0)


def publish_end(redis: Any, build_id: int, status: str) -> None:
    if redis is None:
        return
    try:
        redis.publish(channel(build_id), json.dumps({"end": True, "status": status}))
    except Exception:  # noqa: BLE001 - followers also poll the build status
        pass


@dataclass(frozen=True)
class Event:
    kind: str  # "log" | "end" | "keepalive"
    data: dict[str, Any]


def stored_chunks(
    engine: Engine, build_id: int, after: int = 0, stage: str | None = None
) -> list[LogChunk]:
    with session_scope(engine) as session:
        query = (
            select(LogChunk)
            .where(LogChunk.build_id == build_id, LogChunk.seq > after)
            .order_by(LogChunk.seq)
        )
        return list(session.scalars(query))


def read_text(engine: Engine, build_id: int, stage: str | None = None) -> str:
    return "".join(
        c.text for c in stored_chunks(engine, build_id) if stage is None or c.stage == stage
    )


def _status(engine: Engine, build_id: int) -> str | None:
    with session_scope(engine) as session:
        return session.scalar(select(Build.status).where(Build.id == build_id))


def follow(
    engine: Engine,
    redis: Any,
    build_id: int,
    stage: str | None = None,
    *,
    keepalive_seconds: float = 15.0,
    poll_seconds: float = 2.0,
) -> Iterator[Event]:
    """Replay the stored log, then tail it live until the build ends."""
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel(build_id))
    try:
        last = 0

        def emit_from_db() -> Iterator[Event]:
            nonlocal last
            for chunk in stored_chunks(engine, build_id, after=last):
                last = chunk.seq
                if stage is None or chunk.stage == stage:
                    yield Event("log", {"seq": chunk.seq, "stage": chunk.stage, "text": chunk.text})

        yield from emit_from_db()
        status = _status(engine, build_id)
        if status in FINISHED:
            yield from emit_from_db()
            yield Event("end", {"status": status})
            return
        last_poll = last_beat = time.monotonic()
        while True:
            msg = pubsub.get_message(timeout=0.5)
            now = time.monotonic()
            if msg and msg.get("type") == "message":
                payload = json.loads(msg["data"])
                if payload.get("end"):
                    yield from emit_from_db()
                    yield Event("end", {"status": payload.get("status")})
                    return
                seq = int(payload["seq"])
                if seq <= last:
                    continue
                if seq > last + 1:
                    yield from emit_from_db()  # fill the gap (and this chunk) from the DB
                    continue
                last = seq
                if stage is None or payload.get("stage") == stage:
                    yield Event("log", payload)
                last_beat = now
            if now - last_poll >= poll_seconds:
                last_poll = now
                status = _status(engine, build_id)
                if status in FINISHED:
                    yield from emit_from_db()
                    yield Event("end", {"status": status})
                    return
            if now - last_beat >= keepalive_seconds:
                last_beat = now
                yield Event("keepalive", {})
    finally:
        try:
            pubsub.close()
        except Exception:  # noqa: BLE001
            pass
