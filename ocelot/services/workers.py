"""The workers registry: which workers there are, where they run, whether they are alive, and
which builds they are running.

A worker *name* (``OCELOT_WORKER_NAME``) names a worker's own queue, and the builds it claims
carry it: two live processes with one name would take each other's stage messages. So the
name is held by one *boot* (``boot_id``, new on every start) of one process at a time:

* :func:`register` — at start, before consuming anything: take the name, or refuse with
  :class:`~ocelot.errors.WorkerNameTaken` when a live worker of another boot holds it. A
  holder that stopped cleanly, or has missed :data:`LOST_AFTER_HEARTBEATS` heartbeats, gives
  the name up. The claim is one compare-and-set ``UPDATE`` on the boot and heartbeat that
  were read (under ``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises writers), and a
  new name is an ``INSERT ... ON CONFLICT DO NOTHING``: two starts at once cannot both win.
* :func:`heartbeat` — every ``OCELOT_WORKER_HEARTBEAT`` seconds (``worker/registry.py``):
  refresh ``last_seen_at``, only while the row still belongs to this boot.
* :func:`stopped` — on a clean shutdown.
* :func:`list_workers` — every worker with its state (:class:`~ocelot.status.WorkerState`)
  and running builds, for ``ocelot workers``, ``GET /api/v1/workers`` and the dashboard.

Each worker records its own heartbeat interval, so it is judged by its own clock rate
whatever the web host or another worker is configured with.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import ocelot
from ocelot.errors import WorkerNameTaken
from ocelot.formatting import duration
from ocelot.models import Build, Worker, utcnow
from ocelot.models.base import iso
from ocelot.settings import Settings
from ocelot.status import BuildStatus, WorkerState

# A worker that missed this many heartbeats in a row (and did not stop cleanly) is lost.
LOST_AFTER_HEARTBEATS = 3
# Compare-and-set rounds before giving up on a name that keeps changing hands under us.
CLAIM_ROUNDS = 3


def liveness_window(heartbeat_seconds: float) -> timedelta:
    """How long after its last heartbeat a worker still counts as alive."""
    return timedelta(seconds=heartbeat_seconds * LOST_AFTER_HEARTBEATS)


def judge(
    last_seen_at: datetime, stopped_at: datetime | None, heartbeat_seconds: float, now: datetime
) -> WorkerState:
    """A worker's state at ``now``: stopped, else alive within the liveness window, else lost."""
    if stopped_at is not None:
        return WorkerState.STOPPED
    if now - last_seen_at <= liveness_window(heartbeat_seconds):
        return WorkerState.ALIVE
    return WorkerState.LOST


@dataclass(frozen=True)
class WorkerView:
    """One registered worker as listed: its row, its state at the time of listing, and the
    ids of the builds it runs (``RUNNING`` with ``worker`` = its name), oldest first."""

    name: str
    host: str
    executor: str
    tags: tuple[str, ...]
    capacity: int
    version: str
    boot_id: str
    pid: int
    heartbeat_seconds: float
    started_at: datetime
    last_seen_at: datetime
    stopped_at: datetime | None
    last_seen_seconds: float  # age of the last heartbeat when listed
    state: WorkerState
    running: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "executor": self.executor,
            "tags": list(self.tags),
            "capacity": self.capacity,
            "version": self.version,
            "boot_id": self.boot_id,
            "pid": self.pid,
            "heartbeat_seconds": self.heartbeat_seconds,
            "started_at": iso(self.started_at),
            "last_seen_at": iso(self.last_seen_at),
            "stopped_at": iso(self.stopped_at),
            "last_seen_seconds": self.last_seen_seconds,
            "state": str(self.state),
            "running": list(self.running),
        }


def _claim_values(settings: Settings, boot_id: str, now: datetime) -> dict[str, Any]:
    """Every column of the row a start of this worker writes."""
    return {
        "name": settings.worker_name,
        "host": socket.gethostname(),
        "executor": settings.worker_executor,
        "tags": list(settings.worker_tags),
        "capacity": settings.max_builds,
        "version": ocelot.__version__,
        "boot_id": boot_id,
        "pid": os.getpid(),
        "heartbeat_seconds": settings.worker_heartbeat,
        "started_at": now,
        "last_seen_at": now,
        "stopped_at": None,
    }


def _insert_if_absent(session: Session, values: dict[str, Any]) -> bool:
    """Insert the row unless the name exists (no error, no savepoint); True if inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Worker)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Worker.id)  # the id comes back only when a row went in (rowcount may be -1)
    )
    return session.execute(statement).first() is not None


@dataclass(frozen=True)
class _Holder:
    """What a start needs to know of the row holding a name."""

    boot_id: str
    host: str
    pid: int
    heartbeat_seconds: float
    last_seen_at: datetime
    stopped_at: datetime | None


def _holder(session: Session, name: str) -> _Holder | None:
    """The row holding ``name``, locked until commit where the database can (PostgreSQL)."""
    row = session.execute(
        select(
            Worker.boot_id,
            Worker.host,
            Worker.pid,
            Worker.heartbeat_seconds,
            Worker.last_seen_at,
            Worker.stopped_at,
        )
        .where(Worker.name == name)
        .with_for_update()
    ).one_or_none()
    return None if row is None else _Holder(*row)


def _taken(name: str, holder: _Holder, now: datetime) -> WorkerNameTaken:
    age = max(0.0, (now - holder.last_seen_at).total_seconds())
    window = liveness_window(holder.heartbeat_seconds).total_seconds()
    return WorkerNameTaken(
        f"the worker name {name!r} is taken: a worker with that name is alive on host "
        f"{holder.host} (pid {holder.pid}), last seen {duration(age, ' ')} ago. Give this "
        f"worker a name of its own with OCELOT_WORKER_NAME, or stop the other one first (a "
        f"worker that died without a clean stop frees its name {duration(window, ' ')} after "
        "its last heartbeat).",
        worker=name,
        host=holder.host,
        pid=holder.pid,
        last_seen_seconds=round(age, 1),
    )


def _row(session: Session, name: str) -> Worker:
    return session.execute(
        select(Worker).where(Worker.name == name).execution_options(populate_existing=True)
    ).scalar_one()


def register(
    session: Session, settings: Settings, boot_id: str, now: datetime | None = None
) -> Worker:
    """Take ``settings.worker_name`` for this boot (``boot_id``) of this process and return
    the row. Raises WorkerNameTaken, naming the holder, when a worker of another boot holds
    the name and is alive; a stopped or lost holder gives it up. The caller commits."""
    now = now or utcnow()
    name = settings.worker_name
    values = _claim_values(settings, boot_id, now)
    for _ in range(CLAIM_ROUNDS):
        if _insert_if_absent(session, values):
            return _row(session, name)
        holder = _holder(session, name)
        if holder is None:  # removed since the insert found it: insert again
            continue
        state = judge(holder.last_seen_at, holder.stopped_at, holder.heartbeat_seconds, now)
        if holder.boot_id != boot_id and state == WorkerState.ALIVE:
            raise _taken(name, holder, now)
        claimed = session.execute(
            update(Worker)
            .where(
                Worker.name == name,
                Worker.boot_id == holder.boot_id,
                Worker.last_seen_at == holder.last_seen_at,
            )
            .values(**values)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return _row(session, name)
    holder = _holder(session, name)
    if holder is not None:
        raise _taken(name, holder, now)
    raise WorkerNameTaken(
        f"the worker name {name!r} kept changing hands while this worker tried to take it; "
        "is another worker with that name starting? Give this one a name of its own with "
        "OCELOT_WORKER_NAME",
        worker=name,
    )


def heartbeat(session: Session, name: str, boot_id: str, now: datetime | None = None) -> bool:
    """Refresh the worker's ``last_seen_at``; False when the row does not belong to this boot
    any more (another start took the name) or is gone."""
    done = session.execute(
        update(Worker)
        .where(Worker.name == name, Worker.boot_id == boot_id)
        .values(last_seen_at=now or utcnow())
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def stopped(session: Session, name: str, boot_id: str, now: datetime | None = None) -> bool:
    """Record a clean stop of this boot of the worker (the name is free at once); False when
    the row belongs to another boot, or this one was marked stopped already."""
    now = now or utcnow()
    done = session.execute(
        update(Worker)
        .where(Worker.name == name, Worker.boot_id == boot_id, Worker.stopped_at.is_(None))
        .values(stopped_at=now, last_seen_at=now)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def list_workers(session: Session, now: datetime | None = None) -> list[WorkerView]:
    """Every registered worker, by name, with its state at ``now`` and its running builds:
    one query for the workers, one for the running builds."""
    now = now or utcnow()
    rows = list(session.scalars(select(Worker).order_by(Worker.name)))
    running: dict[str, list[int]] = {}
    if rows:
        builds = session.execute(
            select(Build.worker, Build.id)
            .where(
                Build.status == BuildStatus.RUNNING,
                Build.worker.in_([row.name for row in rows]),
            )
            .order_by(Build.id)
        )
        for worker, build_id in builds:
            running.setdefault(str(worker), []).append(build_id)
    return [
        WorkerView(
            name=row.name,
            host=row.host,
            executor=row.executor,
            tags=tuple(row.tags or ()),
            capacity=row.capacity,
            version=row.version,
            boot_id=row.boot_id,
            pid=row.pid,
            heartbeat_seconds=row.heartbeat_seconds,
            started_at=row.started_at,
            last_seen_at=row.last_seen_at,
            stopped_at=row.stopped_at,
            last_seen_seconds=round(max(0.0, (now - row.last_seen_at).total_seconds()), 1),
            state=judge(row.last_seen_at, row.stopped_at, row.heartbeat_seconds, now),
            running=tuple(running.get(row.name, ())),
        )
        for row in rows
    ]
