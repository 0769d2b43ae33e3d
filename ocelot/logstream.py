"""Build logs: durable, batched writes as output arrives, and live publication on Redis.

Writers (the worker) append :class:`~ocelot.models.LogChunk` rows every ``flush_seconds`` or
``flush_bytes``, whichever comes first, and publish each chunk on ``ocelot:logs:<build id>``
*after* its row is committed. Followers (the web app) subscribe first, replay what is stored,
then tail the channel, using ``seq`` to drop duplicates and to fill any gap from the database;
so a follower sees every chunk exactly once, in order, even if a publication is lost.

Two fences on what is stored (:class:`LogWriter`):

* Size: with ``max_bytes`` (``OCELOT_MAX_LOG_BYTES``), a build attempt's log stops growing
  at that many bytes, counted across its stages (each stage's writer starts from what the
  attempt already stored). The writer then stores :data:`CUT_NOTICE` once and drops the
  stage's output from there on, while still taking it, so the stage runs to its end and its
  exit code is recorded; Ocelot's own lines (stage banners) are still stored.
* Secrets: output is redacted as whole lines (a block of them at a time). An unterminated
  line that waited too long is stored as far as it is safe: when the redactor can tell
  (``tail_to_hold``, see :class:`ocelot.secrets.redaction.SecretRedactor`), the end that may
  be the beginning of a secret waits for the next output, so a secret printed in two pieces
  is still masked.

Line boundaries: a line stored before its newline came is stored without one (the chunk is
``unterminated``) and the next chunk continues it, so it reads back as one line, stored
(:func:`read_text`, :mod:`ocelot.loglines`) and followed (the texts of the events, joined).
Where the text is kept (rows or files) and for how long: :mod:`ocelot.logstore`.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ocelot import metrics
from ocelot.db import session_scope
from ocelot.errors import DatabaseUnreachable
from ocelot.logstore import LogFiles, fill
from ocelot.models import Build, LogChunk, utcnow
from ocelot.retrying import retry_db
from ocelot.secrets.redaction import Redactor, SecretRedactor, identity
from ocelot.status import FINISHED

MAX_CHUNK_CHARS = 1024 * 1024  # the most a chunk grows to while output comes fast
CUT_NOTICE = (
    "--- log cut: this build's log passed OCELOT_MAX_LOG_BYTES ({size}); "
    "output is discarded from here, the stage keeps running ---"
)


def channel(build_id: int) -> str:
    return f"ocelot:logs:{build_id}"


def stored_log(
    session: Session, build_id: int, attempt: int, max_bytes: int | None
) -> tuple[int | None, int | None]:
    """The build's last chunk ``seq``, and the bytes this attempt's log already has (earlier
    stages: the cap is per attempt; only read when there is a cap, ``max_bytes``)."""
    last = session.scalar(select(func.max(LogChunk.seq)).where(LogChunk.build_id == build_id))
    used = (max_bytes or None) and session.scalar(
        select(func.coalesce(func.sum(LogChunk.size), 0)).where(
            LogChunk.build_id == build_id, LogChunk.attempt == attempt
        )
    )
    return last, used


class LogWriter:
    """Collects a build's output and stores it in batches; thread-safe ``write``.

    Output is handled a block at a time, not a line at a time: what a ``write`` brings up to
    its last newline is redacted in one call (a :class:`SecretRedactor` masks a block exactly
    as it would each of its lines: no fragment holds a newline; any other redactor still gets
    one line at a time) and queued as it is. A flush is due every ``flush_seconds`` or once
    ``flush_bytes`` are pending; when those size flushes come faster than ``flush_seconds``
    apart, the size doubles, up to :data:`MAX_CHUNK_CHARS`, so a stage printing fast is
    stored in fewer, bigger chunks (and back to ``flush_bytes`` when it slows down).

    A line still unfinished after a while is stored as far as it is: the chunk then ends
    inside the line (``unterminated``) and the next one continues it, so the line reads back
    whole. At the end of a stage (``set_stage``, ``close``) an open line is ended.
    """

    def __init__(
        self,
        engine: Engine,
        redis: Any,
        build_id: int,
        attempt: int,
        *,
        flush_seconds: float = 0.25,
        flush_bytes: int = 64 * 1024,
        redact: Redactor = identity,
        max_bytes: int | None = None,
        retry_seconds: float = 0,
        files: LogFiles | None = None,
        stored: tuple[int | None, int | None] | None = None,
    ) -> None:
        """``stored``: what :func:`stored_log` answered for this build and attempt in the
        caller's transaction (one commit less per stage), else it is read here."""
        self.engine, self.redis = engine, redis
        # how long a database blip is ridden out before a flush gives up (ocelot.retrying)
        self.retry_seconds = retry_seconds
        self.build_id, self.attempt = build_id, attempt
        self.flush_seconds, self.flush_bytes = flush_seconds, flush_bytes
        self.redact = redact
        self.files = files  # None: the text goes into the rows (ocelot.logstore)
        self.max_bytes = max_bytes or None
        self._hold: Callable[[str], int] | None = getattr(redact, "tail_to_hold", None)
        # a redactor that may be given many lines at once (see the class docstring)
        self._by_block = redact is identity or isinstance(redact, SecretRedactor)
        self.stage: str | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""  # the unfinished line, not redacted yet
        self._partial_since: float | None = None
        self._pending: list[str] = []  # redacted text waiting for the next flush
        self._pending_bytes = 0  # its characters
        self._open = False  # what was queued last ends inside a line
        self._limit = flush_bytes  # pending characters that make ``write`` flush
        self._last_size_flush = -math.inf
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        last, used = stored or retry_db(
            self._stored, what=f"reading the log of build {build_id}", budget=retry_seconds
        )
        self._seq = int(last or 0)
        self._used = int(used or 0)
        # Only the notice takes a log past the cap: past it, an earlier stage already cut.
        self._cut = self.max_bytes is not None and self._used > self.max_bytes

    def _stored(self) -> tuple[int | None, int | None]:
        with session_scope(self.engine) as session:
            return stored_log(session, self.build_id, self.attempt, self.max_bytes)

    def __enter__(self) -> LogWriter:
        self._thread = threading.Thread(target=self._ticker, daemon=True, name="log-flush")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ticker(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            with contextlib.suppress(DatabaseUnreachable):  # kept: the next tick tries again
                self.flush(partial_after=1.0)

    def set_stage(self, name: str | None) -> None:
        self.flush(partial_after=0, final=True)
        self.stage = name

    @property
    def cut(self) -> bool:
        """The log reached ``max_bytes``: output is taken and dropped."""
        return self._cut

    def write(self, data: bytes) -> None:
        """Take raw output; complete lines are redacted and queued for the next flush."""
        if self._cut:
            return  # past the cap: take the output, keep nothing
        text = self._decoder.decode(data)
        with self._lock:
            if self._cut:
                return
            end = text.rfind("\n") + 1
            if not end:
                self._partial += text
            else:
                block = self._partial + text[:end] if self._partial else text[:end]
                self._partial = text[end:]
                self._queue_block(block)
                if self._cut:
                    self._partial = ""
            if not self._partial:
                self._partial_since = None
            elif self._partial_since is None:
                self._partial_since = time.monotonic()
            big = self._pending_bytes >= self._limit or len(self._partial) >= self.flush_bytes
        if big:
            with contextlib.suppress(DatabaseUnreachable):  # kept for the next flush
                self.flush(partial_after=0, by_size=True)

    def line(self, text: str) -> None:
        """Add one line of Ocelot's own (stage banners, errors), on a line of its own (an
        unfinished line of output is ended first); stored even past the cap."""
        with self._lock:
            if self._partial and not self._cut:
                self._queue_line(self._partial)
                self._partial, self._partial_since = "", None
            elif self._open:
                self._append("\n")
            if self._cut:
                self._append(self.redact(text.rstrip("\n")) + "\n")
                return
        self.write((text.rstrip("\n") + "\n").encode())

    def _queue_block(self, block: str) -> None:
        """Queue whole lines (``block`` ends with a newline), redacted (lock held)."""
        if not self._by_block:
            for line in block[:-1].split("\n"):
                self._queue_line(line)
                if self._cut:
                    return
            return
        redacted = block if self.redact is identity else self.redact(block)
        if self.max_bytes is None:
            self._append(redacted, 0)
            return
        size = len(redacted) if redacted.isascii() else len(redacted.encode())
        if self._used + size <= self.max_bytes:
            self._append(redacted, size)
            return
        for line in redacted[:-1].split("\n"):  # the cap falls in this block: find where
            self._queue_line(line, redacted=True)
            if self._cut:
                return

    def _queue_line(self, line: str, *, end: str = "\n", redacted: bool = False) -> None:
        """Queue a line (or, with ``end`` "", the start of one), redacted, as much of it as
        ``max_bytes`` leaves room for (lock held)."""
        if self._cut:
            return
        text = (line if redacted else self.redact(line)) + end
        if self.max_bytes is not None:
            raw = text.encode()
            if self._used + len(raw) > self.max_bytes:
                room = max(self.max_bytes - self._used, 0)
                head = raw[:room].decode(errors="ignore").rstrip("\n")
                if head or self._open:
                    self._append(head + "\n")
                self._append(CUT_NOTICE.format(size=_size_text(self.max_bytes)) + "\n")
                self._cut = True
                self._partial, self._partial_since = "", None
                return
            self._append(text, len(raw))
            return
        self._append(text)

    def _append(self, text: str, size: int | None = None) -> None:
        """Queue ``text`` (``size``: its bytes, when known) for the next flush (lock held)."""
        if not text:
            return
        self._pending.append(text)
        self._pending_bytes += len(text)
        self._open = not text.endswith("\n")
        if self.max_bytes is not None:
            self._used += len(text.encode()) if size is None else size

    def flush(
        self, partial_after: float = 0, *, final: bool = False, by_size: bool = False
    ) -> None:
        """Store and publish what is pending. A line without its newline yet is included
        once it has waited ``partial_after`` seconds (so progress bars still show up), except
        for an end that may be the start of a secret, which waits for more output unless the
        output is ``final`` (which also ends a line left open). ``by_size``: a flush because
        enough is pending (see the class docstring)."""
        with self._io_lock:
            with self._lock:
                since, now = self._partial_since, time.monotonic()
                if self._partial and since is not None and now - since >= partial_after:
                    text = self._partial
                    hold = 0 if final or self._hold is None else self._hold(text)
                    if hold < len(text):
                        self._queue_line(text[: len(text) - hold], end="\n" if final else "")
                    self._partial = text[len(text) - hold :] if hold and not self._cut else ""
                    self._partial_since = now if self._partial else None
                if final and self._open and not self._partial:
                    self._append("\n")  # the stage ended inside a line: end it
                if by_size:
                    quick = now - self._last_size_flush < self.flush_seconds
                    cap = max(self.flush_bytes, MAX_CHUNK_CHARS)
                    self._limit = min(self._limit * 2, cap) if quick else self.flush_bytes
                    self._last_size_flush = now
                if not self._pending:
                    return
                text = "".join(self._pending)
                self._pending, self._pending_bytes = [], 0
                self._seq += 1
                seq, stage = self._seq, self.stage
            data = text.encode()
            try:
                offset = None if self.files is None else self.files.append(self.build_id, data)
                tries: list[int] = []
                retry_db(
                    lambda: self._store(seq, stage, text, len(data), offset, tries),
                    what=f"writing the log of build {self.build_id}",
                    budget=self.retry_seconds,
                )
            except (DatabaseUnreachable, OSError):  # put it back: a later flush stores it
                with self._lock:
                    self._pending.insert(0, text)
                    self._pending_bytes += len(text)
                    self._seq -= 1  # only a flush (under _io_lock) takes a seq
                raise
            metrics.log_stored(text)
            self._publish({"seq": seq, "attempt": self.attempt, "stage": stage, "text": text})

    def _store(
        self,
        seq: int,
        stage: str | None,
        text: str,
        size: int,
        offset: int | None,
        tries: list[int],
    ) -> None:
        """Insert one chunk; ``tries`` counts the calls for this chunk (retries)."""
        tries.append(1)
        row = {
            "build_id": self.build_id,
            "seq": seq,
            "attempt": self.attempt,
            "stage": stage,
            "text": text if offset is None else "",
            "lines": text.count("\n"),
            "unterminated": not text.endswith("\n"),
            "size": size,
            "file_offset": offset,
            "created_at": utcnow(),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(LogChunk), row)
        except IntegrityError:
            if len(tries) == 1:
                raise
            # A retry after a commit whose answer was lost: is the chunk there already?
            with session_scope(self.engine) as session:
                there = session.execute(
                    select(LogChunk.text, LogChunk.file_offset).where(
                        LogChunk.build_id == self.build_id, LogChunk.seq == seq
                    )
                ).first()
            if there is None or tuple(there) != (row["text"], offset):
                raise

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
        if tail and not self._cut:
            with self._lock:
                self._partial += tail
        self.flush(partial_after=0, final=True)


def _size_text(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


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
        chunks = list(session.scalars(query))
    return fill(engine, build_id, chunks)  # the text of chunks kept in the file store


def read_text(engine: Engine, build_id: int, stage: str | None = None) -> str:
    """The build's log (or one stage's), its lines whole: a chunk that ends inside a line is
    continued by the next one of its section; a section left open (a worker lost mid-line)
    is ended before the next section."""
    parts: list[str] = []
    chunks = [c for c in stored_chunks(engine, build_id) if stage is None or c.stage == stage]
    for chunk, after in zip(chunks, [*chunks[1:], None], strict=False):
        parts.append(chunk.text)
        if chunk.unterminated and (
            after is None or (after.attempt, after.stage) != (chunk.attempt, chunk.stage)
        ):
            parts.append("\n" if after is not None else "")
    return "".join(parts)


def _chunk_event(chunk: LogChunk) -> dict[str, Any]:
    return {"seq": chunk.seq, "attempt": chunk.attempt, "stage": chunk.stage, "text": chunk.text}


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
                    yield Event("log", _chunk_event(chunk))

        yield from emit_from_db()
        status = _status(engine, build_id)
        if status in FINISHED:
            yield from emit_from_db()
            yield Event("end", {"status": status})
            return
        last_poll = last_beat = time.monotonic()
        while True:
            try:
                msg = pubsub.get_message(timeout=0.5)
            except (RedisConnectionError, RedisTimeoutError):
                # The broker went away (a Sentinel failover): the next call reconnects and
                # subscribes again, on the new primary; what was missed comes from the DB.
                msg = None
                time.sleep(0.5)
                yield from emit_from_db()
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
