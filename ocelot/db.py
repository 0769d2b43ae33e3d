"""Database engine, sessions and migrations.

One engine per process (``make_engine``), sessions through ``session_scope`` which commits on
success and rolls back on error: services own the transaction, callers enqueue Celery tasks only
after the scope has committed. ``migrate`` runs the Alembic migrations in ``migrations/``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ocelot.errors import DependencyUnavailable
from ocelot.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "migrations"

_engines: dict[str, Engine] = {}
# engine -> the log file store's directory of the settings it was made with
_log_dirs: weakref.WeakKeyDictionary[Engine, Path] = weakref.WeakKeyDictionary()
_factories: weakref.WeakKeyDictionary[Engine, sessionmaker[Session]] = weakref.WeakKeyDictionary()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    # WAL lets the web read while a worker writes; busy_timeout makes writers wait, not fail.
    cur.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL is safe against process crashes (a worker SIGKILLed mid-write) and
    # only risks the last commits on power loss; FULL costs an fsync per log chunk.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_savepoint(conn, _name) -> None:  # type: ignore[no-untyped-def]
    """Take SQLite's write lock before a SAVEPOINT that would open the transaction.

    pysqlite opens a transaction only before INSERT/UPDATE/DELETE, so a SAVEPOINT outside
    one starts a *deferred* transaction: its first SELECT pins a snapshot, and if another
    process commits before its first write, that write fails at once with "database is
    locked" (SQLITE_BUSY_SNAPSHOT; busy_timeout does not apply). ``BEGIN IMMEDIATE`` waits
    for the lock under busy_timeout instead, and the savepoint then runs inside it."""
    driver = conn.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        driver.execute("BEGIN IMMEDIATE")


def make_engine(settings: Settings) -> Engine:
    """Return the process-wide engine for ``settings.database_url`` (created once)."""
    url = settings.database_url
    engine = _engines.get(url)
    if engine is not None:
        _log_dirs[engine] = settings.logs
        return engine
    if url.startswith("sqlite"):
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_savepoint)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    _engines[url] = engine
    _log_dirs[engine] = settings.logs
    return engine


def log_dir(engine: Engine) -> Path | None:
    """The directory of the log file store of the installation ``engine`` belongs to (the
    settings it was made with): where chunks stored with ``OCELOT_LOG_STORE=files`` are."""
    return _log_dirs.get(engine)


def dispose_engines() -> None:
    """Close every pooled connection (after fork, and in tests)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _factories.clear()  # a factory holds its engine: weak keys alone would not let it go


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """The engine's session factory, made once: a ``sessionmaker`` defines a class of its own
    (~0.3 ms), and every ``session_scope`` asks for one (~10 per build)."""
    factory = _factories.get(engine)
    if factory is None:
        factory = _factories[engine] = sessionmaker(bind=engine, expire_on_commit=False)
    return factory


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def check_database(engine: Engine) -> None:
    """Raise DependencyUnavailable unless the database answers and is migrated."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            if not inspect(conn).has_table("builds"):
                raise DependencyUnavailable(
                    "the database is not migrated: run `ocelot admin migrate` (or `make run`)"
                )
    except OperationalError as exc:
        raise DependencyUnavailable(f"database unreachable: {exc.orig}") from None


def alembic_config(settings: Settings):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return cfg


def migrate(settings: Settings, revision: str = "heads") -> None:
    """Upgrade the database to ``revision`` (creating the SQLite file when needed)."""
    from alembic import command

    make_engine(settings)  # creates OCELOT_HOME for SQLite
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(settings), revision)
