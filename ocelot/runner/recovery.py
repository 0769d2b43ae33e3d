"""Recovery: leases, the reaper, and handing a build back when its attempt cannot go on.

A running build holds a lease (``lease_until``) that the process working on it renews:
``prepare`` through :class:`LeaseKeeper`, each stage every second while it runs. If the worker
dies (SIGKILL, OOM, host lost) nobody renews it; the beat ``reap`` finds the expired lease,
records ``worker lost: <name>`` on the stage and the build, removes what it can of the dead
attempt and queues the build again from the start — a new attempt, so any message left over
from the dead one is a no-op — up to ``OCELOT_WORKER_LOST_RETRIES`` times, then fails it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text, update

from ocelot.db import session_scope
from ocelot.executors import BuildKey
from ocelot.lifecycle import move
from ocelot.logstream import publish_end
from ocelot.models import Build, utcnow
from ocelot.retrying import outage_budget, retry_db
from ocelot.runner.context import RunContext
from ocelot.status import BuildStatus, StageStatus

log = logging.getLogger(__name__)


def renew_lease(ctx: RunContext, build_id: int, attempt: int) -> bool:
    """Push the lease forward; False when the attempt is no longer the build's live one.
    A database blip is retried for up to a lease (:func:`ocelot.retrying.retry_db`), then
    :class:`~ocelot.errors.DatabaseUnreachable` says so."""

    def renew() -> bool:
        with session_scope(ctx.engine) as session:
            result = session.execute(
                update(Build)
                .where(
                    Build.id == build_id,
                    Build.attempt == attempt,
                    Build.status == BuildStatus.RUNNING,
                )
                .values(lease_until=utcnow() + timedelta(seconds=ctx.settings.lease_seconds))
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    return retry_db(
        renew,
        what=f"renewing the lease of build {build_id} (attempt {attempt})",
        budget=outage_budget(ctx.settings),
    )


class LeaseKeeper:
    """Renews a build's lease from a thread while a long step (clone, image pull) runs."""

    def __init__(self, ctx: RunContext, build_id: int, attempt: int) -> None:
        self.ctx, self.build_id, self.attempt = ctx, build_id, attempt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lease")

    def _run(self) -> None:
        interval = max(0.5, self.ctx.settings.lease_seconds / 4)
        while not self._stop.wait(interval):
            try:
                renew_lease(self.ctx, self.build_id, self.attempt)
            except Exception:  # noqa: BLE001 - a missed renewal is retried; the lease has slack
                log.warning("could not renew the lease of build %s", self.build_id)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _end_stages(build: Build, reason: str, not_run: str) -> None:
    """The running stage of the current attempt failed with ``reason``; pending ones never ran."""
    for stage in build.current_stages():
        if stage.status == StageStatus.RUNNING:
            stage.status, stage.finished_at = StageStatus.FAILED, utcnow()
            stage.add_message(reason)
        elif stage.status == StageStatus.PENDING:
            stage.status = StageStatus.SKIPPED
            stage.add_message(not_run)


@dataclass(frozen=True)
class Abandoned:
    build_id: int
    attempt: int
    requeue_to: str | None  # the queue for a new attempt, or None if the build failed
    # the worker that ran the attempt (its host holds the containers); not part of equality
    owner: str | None = field(default=None, compare=False)


def abandon(
    ctx: RunContext,
    build_id: int,
    attempt: int,
    reason: str,
    *,
    expired_before: datetime | None = None,
) -> Abandoned | None:
    """End ``attempt`` of a running build with ``reason`` and queue it again (or fail it
    once the retry cap is reached). Idempotent: a second call for the same attempt is None.
    With ``expired_before`` (the reaper), only if the lease still ended before that time:
    a renewal that came meanwhile wins."""
    from ocelot.runner.route import queue_for

    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id)
        if build is None or build.attempt != attempt or build.status != BuildStatus.RUNNING:
            return None
        lease = build.lease_until
        if expired_before is not None and lease is not None and lease >= expired_before:
            return None
        _end_stages(build, reason, f"not run: {reason}")
        owner = build.worker
        build.history = [
            *(build.history or []),
            {
                "attempt": attempt,
                "worker": build.worker,
                "reason": reason,
                "at": utcnow().isoformat().replace("+00:00", "Z"),
            },
        ]
        if attempt <= ctx.settings.worker_lost_retries and not build.kill_requested_by:
            move(
                build,
                BuildStatus.QUEUED,
                pending=f"queued again after attempt {attempt}: {reason}",
            )
            build.worker = None
            build.workspace = None
            result = Abandoned(build_id, attempt, queue_for(build.machine_tag), owner)
        else:
            move(build, BuildStatus.FAILED, f"{reason} (attempt {attempt}; no retries left)")
            result = Abandoned(build_id, attempt, None, owner)
    # What this host can remove of the dead attempt (all of it when it is the owner's host);
    # the caller also asks the owner's own queue (queues.send_destroy): the other hosts'.
    try:
        ctx.executor.destroy(BuildKey(build_id, attempt))
    except Exception:  # noqa: BLE001 - leftovers are the janitor's
        log.warning("could not remove the environment of build %s attempt %s", build_id, attempt)
    if result.requeue_to is None:
        publish_end(ctx.redis, build_id, BuildStatus.FAILED)
        ctx.build_finished(build_id, BuildStatus.FAILED)
    return result


def fail_build(ctx: RunContext, build_id: int, reason: str) -> bool:
    """End an unfinished build as FAILED (or FAILED_PRESTART if nothing ran) with ``reason``
    and remove its environment. Used for internal errors and server-side deadlines."""
    with session_scope(ctx.engine) as session:
        build = session.get(Build, build_id)
        if build is None or build.status not in (BuildStatus.QUEUED, BuildStatus.RUNNING):
            return False
        started = build.status == BuildStatus.RUNNING
        attempt = build.attempt
        _end_stages(build, reason, "not run")
        final = BuildStatus.FAILED if started else BuildStatus.FAILED_PRESTART
        move(build, final, reason)
    if started:
        try:
            ctx.executor.destroy(BuildKey(build_id, attempt))
        except Exception:  # noqa: BLE001 - leftovers are the janitor's
            log.warning("could not remove the environment of build %s", build_id)
    publish_end(ctx.redis, build_id, final)
    ctx.build_finished(build_id, final)
    return True


def reap(ctx: RunContext, *, judge_leases: bool = True) -> list[Abandoned]:
    """Abandon every running build whose lease expired (its worker is gone), and fail every
    build that is past its deadline (``timeout``) by more than a lease, worker or not.
    ``judge_leases`` False (see :func:`may_judge_leases`): deadlines only."""
    now = utcnow()
    late = now - timedelta(seconds=ctx.settings.lease_seconds)
    with session_scope(ctx.engine) as session:
        overdue = list(
            session.scalars(
                select(Build.id).where(
                    Build.status == BuildStatus.RUNNING, Build.deadline_at < late
                )
            )
        )
    for build_id in overdue:
        fail_build(ctx, build_id, "timeout: the build passed its deadline (enforced by the reaper)")
    if not judge_leases:
        return []
    with session_scope(ctx.engine) as session:
        rows = session.execute(
            select(Build.id, Build.attempt, Build.worker).where(
                Build.status == BuildStatus.RUNNING, Build.lease_until < now
            )
        ).all()
    done = []
    for build_id, attempt, worker in rows:
        result = abandon(ctx, build_id, attempt, f"worker lost: {worker}", expired_before=now)
        if result is not None:
            log.warning("build %s attempt %s: worker lost: %s", build_id, attempt, worker)
            done.append(result)
    return done


def may_judge_leases(ctx: RunContext) -> bool:
    """May the reaper call an expired lease a lost worker now? Only once it has itself
    reached the database continuously for a whole lease: after an outage (or at the first
    reap) every worker gets one full lease to renew before anyone is called lost, so a
    database blip is never a dead worker. "Continuously": successive reaps (of any host;
    the marks are in Redis) at most a lease apart, each reaching the database in less than
    a third of a lease (a frozen database answers late, not with an error). A reap that
    cannot reach the database raises, and the gap it leaves restarts the count."""
    if ctx.redis is None:  # tools and tests without Redis: no memory between reaps
        return True
    lease = ctx.settings.lease_seconds
    before = time.time()
    with session_scope(ctx.engine) as session:
        session.execute(text("SELECT 1"))
    after = time.time()
    keys = f"ocelot:{ctx.instance}:reaper:reached-at", f"ocelot:{ctx.instance}:reaper:since"
    marks: list[bytes | None] = ctx.redis.mget(keys)  # type: ignore[assignment]
    last, since = (_seconds(v) for v in marks)
    if since is None or last is None or after - last > lease or after - before > lease / 3:
        since = after
        log.info("reaper: judging leases again in %.0f s (database reached again)", lease)
    ctx.redis.mset({keys[0]: str(after), keys[1]: str(since)})
    return after - since >= lease


def _seconds(value: bytes | str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def stale_queued(ctx: RunContext) -> list[tuple[int, bool]]:
    """QUEUED builds not picked up for a while: ``(id, routed)`` — routed ones go straight to
    ``prepare``, the others back to ``route``."""
    cutoff = utcnow() - timedelta(seconds=ctx.settings.reconcile_after_seconds)
    with session_scope(ctx.engine) as session:
        rows = session.execute(
            select(Build.id, Build.config_text, Build.queued_at, Build.history).where(
                Build.status == BuildStatus.QUEUED,
                Build.waiting_for.is_(None),  # waits for another pipeline's build: not lost
            )
        ).all()
    out = []
    for build_id, config_text, queued_at, history in rows:
        last = queued_at
        if history:
            last = max(last, _parse(history[-1]["at"]))
        if last < cutoff:
            out.append((build_id, config_text is not None))
    return out


def _parse(stamp: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
