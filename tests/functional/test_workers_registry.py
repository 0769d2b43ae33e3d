"""The workers registry against a real database (SQLite and PostgreSQL): register, heartbeat,
stop, list; lost after missed heartbeats; a live name refused, a stale or stopped one taken
over; two starts at once; running builds; ``GET /api/v1/workers`` and its role."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import ocelot
from ocelot.db import session_factory, session_scope
from ocelot.errors import InvalidRequest, WorkerNameTaken
from ocelot.models import Build, Repo, Worker
from ocelot.services import workers
from ocelot.services.tokens import create_token
from ocelot.settings import Settings, load_settings
from ocelot.status import BuildStatus, WorkerState
from tests.waiting import eventually

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
BOOT_A, BOOT_B, BOOT_C = "a" * 32, "b" * 32, "c" * 32


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def w1(settings: Settings) -> Settings:
    return settings.with_(
        worker_name="w1",
        worker_executor="local",
        worker_tags=("mac", "arm"),
        max_builds=3,
        worker_heartbeat=5.0,
    )


def register(engine: Engine, settings: Settings, boot_id: str, now: datetime) -> Worker:
    with session_scope(engine) as session:
        return workers.register(session, settings, boot_id, now=now)


def listed(engine: Engine, now: datetime) -> dict[str, workers.WorkerView]:
    with session_scope(engine) as session:
        return {view.name: view for view in workers.list_workers(session, now=now)}


def beat(engine: Engine, name: str, boot_id: str, now: datetime) -> bool:
    with session_scope(engine) as session:
        return workers.heartbeat(session, name, boot_id, now=now)


def test_register_heartbeat_stop_and_list(engine: Engine, w1: Settings) -> None:
    row = register(engine, w1, BOOT_A, at(0))
    assert (row.name, row.executor, row.tags, row.capacity) == ("w1", "local", ["mac", "arm"], 3)
    assert (row.host, row.pid) == (socket.gethostname(), os.getpid())
    assert row.version == ocelot.__version__
    assert (row.boot_id, row.started_at, row.last_seen_at, row.stopped_at) == (
        BOOT_A,
        at(0),
        at(0),
        None,
    )

    view = listed(engine, at(2))["w1"]
    assert view.state == WorkerState.ALIVE and view.last_seen_seconds == 2.0
    assert view.tags == ("mac", "arm") and view.running == ()

    assert beat(engine, "w1", BOOT_A, at(10))
    assert listed(engine, at(25))["w1"].state == WorkerState.ALIVE  # 15 s = 3 heartbeats
    assert listed(engine, at(25.5))["w1"].state == WorkerState.LOST

    with session_scope(engine) as session:
        assert workers.stopped(session, "w1", BOOT_A, now=at(26))
        assert not workers.stopped(session, "w1", BOOT_A, now=at(27))  # once
    view = listed(engine, at(30))["w1"]
    assert view.state == WorkerState.STOPPED and view.stopped_at == at(26)
    assert view.started_at == at(0)


def test_the_lost_factor_is_a_number_of_heartbeats(engine: Engine, w1: Settings) -> None:
    assert workers.LOST_AFTER_HEARTBEATS == 3
    register(engine, w1.with_(worker_heartbeat=1.0), BOOT_A, at(0))
    assert listed(engine, at(3))["w1"].state == WorkerState.ALIVE
    assert listed(engine, at(3.1))["w1"].state == WorkerState.LOST


def test_a_live_duplicate_is_refused_with_the_holder_named(engine: Engine, w1: Settings) -> None:
    register(engine, w1, BOOT_A, at(0))
    with pytest.raises(WorkerNameTaken) as caught:
        register(engine, w1.with_(worker_executor="docker"), BOOT_B, at(4))
    error = caught.value
    assert error.exit_code == 3 and error.status_code == 409
    message = error.message
    assert "'w1' is taken" in message
    assert f"on host {socket.gethostname()} (pid {os.getpid()})" in message
    assert "last seen 4.0s ago" in message
    assert "OCELOT_WORKER_NAME" in message and "stop the other one" in message
    assert error.details["host"] == socket.gethostname()
    view = listed(engine, at(5))["w1"]  # untouched
    assert (view.boot_id, view.executor, view.last_seen_at) == (BOOT_A, "local", at(0))


def test_a_lost_holder_gives_the_name_up_and_its_heartbeats_are_refused(
    engine: Engine, w1: Settings
) -> None:
    register(engine, w1, BOOT_A, at(0))
    row = register(engine, w1.with_(max_builds=1), BOOT_B, at(15.5))
    assert (row.boot_id, row.capacity, row.started_at, row.stopped_at) == (
        BOOT_B,
        1,
        at(15.5),
        None,
    )
    assert not beat(engine, "w1", BOOT_A, at(16))  # the old boot came back: not its row
    with session_scope(engine) as session:
        assert not workers.stopped(session, "w1", BOOT_A)
    view = listed(engine, at(17))["w1"]
    assert (view.boot_id, view.last_seen_at, view.state) == (BOOT_B, at(15.5), WorkerState.ALIVE)


def test_a_stopped_holder_gives_the_name_up_at_once(engine: Engine, w1: Settings) -> None:
    register(engine, w1, BOOT_A, at(0))
    with session_scope(engine) as session:
        workers.stopped(session, "w1", BOOT_A, now=at(1))
    assert register(engine, w1, BOOT_B, at(1.5)).boot_id == BOOT_B
    assert listed(engine, at(2))["w1"].state == WorkerState.ALIVE


def test_the_same_boot_may_register_again(engine: Engine, w1: Settings) -> None:
    register(engine, w1, BOOT_A, at(0))
    assert register(engine, w1, BOOT_A, at(1)).last_seen_at == at(1)
    with session_scope(engine) as session:
        assert session.scalar(select(Worker.id).where(Worker.name == "w1")) is not None
        assert len(session.scalars(select(Worker)).all()) == 1


def _contend(engine: Engine, w1: Settings, now: datetime) -> BaseException | None:
    """Boot B claims the name in an open transaction; boot C starts meanwhile on another
    connection. Returns what C's start raised once B committed (None if it won)."""
    first: Session = session_factory(engine)()
    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            register(engine, w1, BOOT_C, now)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    try:
        workers.register(first, w1, BOOT_B, now=now)
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), "the second start did not wait for the first one's claim"
        first.commit()
        thread.join(30)
    finally:
        first.close()
    assert outcome, "the second start never finished"
    return outcome[0]


def test_two_starts_at_once_for_a_new_name_cannot_both_win(engine: Engine, w1: Settings) -> None:
    assert isinstance(_contend(engine, w1, at(0)), WorkerNameTaken)
    assert listed(engine, at(1))["w1"].boot_id == BOOT_B


def test_two_starts_at_once_taking_over_a_lost_name_cannot_both_win(
    engine: Engine, w1: Settings
) -> None:
    register(engine, w1, BOOT_A, at(0))
    assert isinstance(_contend(engine, w1, at(60)), WorkerNameTaken)
    assert listed(engine, at(61))["w1"].boot_id == BOOT_B


def _builds(engine: Engine, rows: list[tuple[str, str | None]]) -> list[int]:
    with session_scope(engine) as session:
        repo = Repo(acct="acme", name="demo", full_name="acme/demo", url="/x")
        builds = [Build(repo=repo, status=status, worker=worker) for status, worker in rows]
        session.add_all(builds)
        session.flush()
        return [b.id for b in builds]


def test_running_builds_are_listed_with_two_queries(engine: Engine, w1: Settings) -> None:
    register(engine, w1, BOOT_A, at(0))
    register(engine, w1.with_(worker_name="w2"), BOOT_B, at(0))
    register(engine, w1.with_(worker_name="w3"), BOOT_C, at(0))
    ids = _builds(
        engine,
        [
            (BuildStatus.RUNNING, "w1"),
            (BuildStatus.PASSED, "w1"),
            (BuildStatus.RUNNING, "w2"),
            (BuildStatus.RUNNING, "w1"),
            (BuildStatus.QUEUED, None),
            (BuildStatus.RUNNING, "unregistered"),
        ],
    )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        views = listed(engine, at(1))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert views["w1"].running == (ids[0], ids[3])
    assert views["w2"].running == (ids[2],)
    assert views["w3"].running == ()
    assert list(views) == ["w1", "w2", "w3"]
    assert len(statements) == 2, statements


def test_the_heartbeat_setting(tmp_path: Any) -> None:
    assert load_settings({"OCELOT_HOME": str(tmp_path)}).worker_heartbeat == 5.0
    env = {"OCELOT_HOME": str(tmp_path), "OCELOT_WORKER_HEARTBEAT": "1.5"}
    assert load_settings(env).worker_heartbeat == 1.5
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(InvalidRequest, match="OCELOT_WORKER_HEARTBEAT"):
            load_settings({**env, "OCELOT_WORKER_HEARTBEAT": bad})


def test_the_api_lists_the_workers(
    client: FlaskClient, auth: dict[str, str], engine: Engine, w1: Settings
) -> None:
    now = datetime.now(UTC)
    register(engine, w1, BOOT_A, now - timedelta(hours=1))
    register(engine, w1.with_(worker_name="w2", worker_tags=()), BOOT_B, now)
    (build_id,) = _builds(engine, [(BuildStatus.RUNNING, "w2")])
    resp = client.get("/api/v1/workers", headers=auth)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()["workers"]
    assert [w["name"] for w in body] == ["w1", "w2"]
    lost, alive = body
    assert lost["state"] == "lost" and lost["running"] == [] and lost["tags"] == ["mac", "arm"]
    started = (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert lost["started_at"] == started and lost["stopped_at"] is None
    assert (lost["executor"], lost["capacity"], lost["boot_id"]) == ("local", 3, BOOT_A)
    assert lost["last_seen_seconds"] >= 3600
    assert alive["state"] == "alive" and alive["running"] == [build_id]
    assert alive["version"] == ocelot.__version__ and alive["heartbeat_seconds"] == 5.0
    assert set(alive) == {
        "name", "host", "executor", "tags", "capacity", "version", "boot_id", "pid",
        "heartbeat_seconds", "started_at", "last_seen_at", "stopped_at", "last_seen_seconds",
        "state", "running",
    }  # fmt: skip


def test_the_api_needs_a_token_and_a_read_one_is_enough(
    client: FlaskClient, engine: Engine
) -> None:
    resp = client.get("/api/v1/workers")
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"
    with session_scope(engine) as session:
        token = create_token(session, "reader", role="read")
    resp = client.get("/api/v1/workers", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.get_json() == {"workers": []}


def test_the_heartbeat_thread_outlives_database_errors_and_marks_the_stop(
    engine: Engine, w1: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from worker.registry import Heartbeat

    fast = w1.with_(worker_heartbeat=0.05)
    start = datetime.now(UTC) - timedelta(minutes=1)
    register(engine, fast, BOOT_A, start)
    heart = Heartbeat(fast, BOOT_A)
    heart.start()
    try:
        eventually(lambda: listed(engine, start)["w1"].last_seen_at > start, 10, "a heartbeat")
        with engine.begin() as conn:  # the registry is unreachable for a while
            conn.execute(text("ALTER TABLE workers RENAME TO workers_away"))
        eventually(lambda: "heartbeat failed" in caplog.text, 10, "a logged failure")
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE workers_away RENAME TO workers"))
        seen = datetime.now(UTC)
        eventually(lambda: listed(engine, seen)["w1"].last_seen_at > seen, 10, "beats again")
        assert heart._thread.is_alive()
    finally:
        heart.stop()
    assert not heart._thread.is_alive() and heart._thread.daemon
    assert listed(engine, datetime.now(UTC))["w1"].state == WorkerState.STOPPED


def test_a_heartbeat_that_finds_its_name_taken_says_so_loudly(
    engine: Engine, w1: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from worker.registry import Heartbeat

    register(engine, w1, BOOT_A, datetime.now(UTC) - timedelta(minutes=1))  # lost
    register(engine, w1, BOOT_B, datetime.now(UTC))  # another start took the name
    heart = Heartbeat(w1, BOOT_A)
    with caplog.at_level(logging.ERROR, logger="ocelot.worker.registry"):
        assert heart.beat() is False
    assert "ANOTHER WORKER HOLDS THIS NAME" in caplog.text and "'w1' is taken" in caplog.text
    assert listed(engine, datetime.now(UTC))["w1"].boot_id == BOOT_B  # left alone

    with session_scope(engine) as session:  # the other one stopped: the name comes back
        workers.stopped(session, "w1", BOOT_B)
    assert heart.beat() is True
    assert listed(engine, datetime.now(UTC))["w1"].boot_id == BOOT_A
    heart.stop()  # never started: only marks the stop
    assert listed(engine, datetime.now(UTC))["w1"].state == WorkerState.STOPPED
