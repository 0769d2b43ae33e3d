"""ocelot.db on SQLite: a savepoint that opens the transaction takes the write lock first, so
another process committing between its first read and its first write makes that write wait
(busy_timeout), not fail at once with "database is locked" (SQLITE_BUSY_SNAPSHOT)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from ocelot.db import dispose_engines, make_engine, session_scope
from ocelot.settings import load_settings


def test_a_savepoint_write_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    settings = load_settings(
        {"OCELOT_HOME": str(tmp_path), "OCELOT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    )
    engine = make_engine(settings)
    try:
        with session_scope(engine) as session:
            session.execute(text("CREATE TABLE t (who TEXT)"))
        other_done = threading.Event()
        errors: list[BaseException] = []

        def other_process_writes() -> None:  # another connection, as a worker's would be
            try:
                conn = sqlite3.connect(tmp_path / "x.db", timeout=10)
                conn.execute("INSERT INTO t VALUES ('other')")
                conn.commit()
                conn.close()
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                other_done.set()

        with session_scope(engine) as session:
            session.execute(text("SELECT count(*) FROM t")).all()  # outside any transaction
            with session.begin_nested():
                session.execute(text("SELECT count(*) FROM t")).all()  # pins a snapshot
                writer = threading.Thread(target=other_process_writes)
                writer.start()
                # Unfenced, the other write commits at once and ours below fails; fenced, it
                # waits for our commit. Either way give it the time to get that far.
                other_done.wait(0.5)
                session.execute(text("INSERT INTO t VALUES ('savepoint')"))
        writer.join(15)
        assert errors == []
        with session_scope(engine) as session:
            rows = sorted(r[0] for r in session.execute(text("SELECT who FROM t")))
        assert rows == ["other", "savepoint"]
    finally:
        dispose_engines()
