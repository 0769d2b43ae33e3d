"""Where the text of build logs is kept, and for how long.

Two stores, chosen by ``OCELOT_LOG_STORE``; every chunk has its ``log_chunks`` row either way
(seq, attempt, stage, lines, size: what pages and followers need), and the text is:

* ``sql`` (the default): in the row's ``text``;
* ``files``: appended to the build's own file, ``<OCELOT_LOG_DIR>/<id // 1000>/<id>.log``
  (``OCELOT_LOG_DIR`` defaults to ``$OCELOT_HOME/logs``), the row holding where
  (``file_offset``, ``size``) and an empty ``text``. SQL stays small however much builds
  print. **The web reads stored logs from these files**, and workers write them: this store
  is for a one-host installation, or for hosts that all mount one shared volume at the same
  ``OCELOT_LOG_DIR``. Live logs do not need it (they travel on Redis with their text).

Retention (``OCELOT_LOG_RETENTION_DAYS``, 0 = keep): :func:`prune` removes the logs of builds
that finished longer ago than that, rows and files, and keeps the builds themselves.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from ocelot.db import log_dir, session_scope
from ocelot.models import Build, LogChunk
from ocelot.settings import Settings

PRUNE_BATCH = 200  # builds whose logs one statement removes


class LogFiles:
    """The file store: one append-only file per build under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, build_id: int) -> Path:
        return self.root / str(build_id // 1000) / f"{build_id}.log"

    def append(self, build_id: int, data: bytes) -> int:
        """Append ``data`` to the build's file; the offset it starts at."""
        path = self.path(build_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # a stray writer of an older attempt waits
            offset = os.lseek(fd, 0, os.SEEK_END)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            return offset
        finally:
            os.close(fd)

    def read(self, build_id: int, spans: Sequence[tuple[int, int]]) -> list[str]:
        """The text at each ``(offset, size)`` of the build's file ("" once it is pruned)."""
        try:
            handle = self.path(build_id).open("rb")
        except FileNotFoundError:
            return ["" for _ in spans]
        with handle:
            out = []
            for offset, size in spans:
                handle.seek(offset)
                out.append(handle.read(size).decode(errors="replace"))
            return out

    def remove(self, build_id: int) -> bool:
        try:
            self.path(build_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def build_ids(self) -> Iterator[int]:
        """The builds that have a file."""
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if folder.is_dir() and folder.name.isdigit():
                for file in folder.glob("*.log"):
                    if file.stem.isdigit():
                        yield int(file.stem)


def writer_files(settings: Settings) -> LogFiles | None:
    """The file store new chunks go to, or None when their text goes to SQL."""
    return LogFiles(settings.logs) if settings.log_store == "files" else None


def files_of(engine: Engine) -> LogFiles:
    """The file store of the installation ``engine`` belongs to (for reading)."""
    root = log_dir(engine)
    if root is None:
        raise RuntimeError("no log directory is known for this engine (make it with make_engine)")
    return LogFiles(root)


def texts(engine: Engine, build_id: int, rows: Sequence[tuple[str, int | None, int]]) -> list[str]:
    """The text of each chunk given as ``(text, file_offset, size)``, from its row or from the
    build's file: one open of the file, whatever the number of chunks."""
    spans = [(offset, size) for _text, offset, size in rows if offset is not None]
    if not spans:
        return [text for text, _offset, _size in rows]
    from_file = iter(files_of(engine).read(build_id, spans))
    return [text if offset is None else next(from_file) for text, offset, _size in rows]


def fill(engine: Engine, build_id: int, chunks: Sequence[LogChunk]) -> list[LogChunk]:
    """``chunks`` (detached rows) with the text of those kept in the file store filled in."""
    if any(c.file_offset is not None for c in chunks):
        found = texts(engine, build_id, [(c.text, c.file_offset, c.size) for c in chunks])
        for chunk, text in zip(chunks, found, strict=True):
            chunk.text = text
    return list(chunks)


def prune(engine: Engine, days: float, now: datetime | None = None) -> int:
    """Remove the logs (rows and files) of builds finished more than ``days`` ago; the
    builds stay. Returns how many builds lost their log. ``days`` 0: nothing is removed."""
    if days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    old = select(Build.id).where(Build.finished_at.is_not(None), Build.finished_at < cutoff)
    pruned: set[int] = set()
    while True:
        with session_scope(engine) as session:
            ids = list(
                session.scalars(
                    select(LogChunk.build_id)
                    .where(LogChunk.build_id.in_(old))
                    .distinct()
                    .limit(PRUNE_BATCH)
                )
            )
            if not ids:
                break
            session.execute(delete(LogChunk).where(LogChunk.build_id.in_(ids)))
        pruned.update(ids)
    root = log_dir(engine)
    if root is not None and root.is_dir():
        files = LogFiles(root)
        on_disk = sorted(files.build_ids())
        for start in range(0, len(on_disk), PRUNE_BATCH):
            batch = on_disk[start : start + PRUNE_BATCH]
            with session_scope(engine) as session:
                expired = set(session.scalars(old.where(Build.id.in_(batch))))
                alive = set(session.scalars(select(Build.id).where(Build.id.in_(batch))))
            for build_id in batch:
                if build_id in expired or build_id not in alive:  # old, or its build is gone
                    with contextlib.suppress(OSError):
                        if files.remove(build_id):
                            pruned.add(build_id)
    return len(pruned)
