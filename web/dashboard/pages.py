"""The repository page (``/repos/<acct>/<name>``) and the queue page (``/queue``).

Both take a fixed number of queries whatever the number of builds. Charts are inline SVG
made here (no library): one point per finished build."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from ocelot.db import session_scope
from ocelot.models import Build, Delivery, Poll, Repo, RepoHook
from ocelot.services import builds as build_service
from ocelot.services.tokens import BUILD
from ocelot.services.workers import list_workers
from ocelot.status import FINISHED, WAITING, BuildStatus, WorkerState
from web.dashboard.blueprint import dashboard
from web.dashboard.views import _need, _ref, _seconds, age, span
from web.extensions import services

PAGE_SIZE = 25
STOPPED_SHOWN_SECONDS = 3600  # the queue page lists a cleanly stopped worker this long
DELIVERIES = 20
CHART_BUILDS = 50
CHART_W, CHART_H, PAD = 600, 120, 6
RATED = (BuildStatus.PASSED, BuildStatus.FAILED, BuildStatus.FAILED_PRESTART, BuildStatus.KILLED)


def chart(points: list[tuple[int, float]]) -> dict[str, Any]:
    """Coordinates for an SVG line chart of (build id, seconds), oldest first."""
    top = max((value for _, value in points), default=0.0) or 1.0
    step = (CHART_W - 2 * PAD) / max(len(points) - 1, 1)
    dots = [
        {
            "id": build_id,
            "x": round(PAD + i * step, 1),
            "y": round(CHART_H - PAD - (value / top) * (CHART_H - 2 * PAD), 1),
            "label": span(value),
        }
        for i, (build_id, value) in enumerate(points)
    ]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "dots": dots,
        "line": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "top": span(top),
    }


def _page_arg() -> int:
    try:
        return max(int(request.args.get("page", "1")), 1)
    except ValueError:
        return 1


@dashboard.get("/repos/<acct>/<name>")
def repo_page(acct: str, name: str) -> ResponseReturnValue:
    filters = {
        key: request.args.get(key) or None for key in ("branch", "status", "trigger", "pipeline")
    }
    page = _page_arg()
    svc = services()
    with session_scope(svc.engine) as db:
        repo = db.execute(
            select(Repo.id, Repo.full_name, Repo.acct, Repo.name, Repo.url).where(
                Repo.full_name == f"{acct}/{name}"
            )
        ).first()
        if repo is None:
            abort(404)
        query = select(Build).where(Build.repo_id == repo.id)
        for key, value in filters.items():
            if value:
                query = query.where(getattr(Build, key) == value)
        total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
        pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
        page = min(page, pages)
        builds = [
            {
                "id": b.id,
                "status": b.status,
                "ref": _ref(b.branch, b.tag, b.pr_id),
                "hash_short": b.hash[:7] if b.hash else None,
                "trigger": b.trigger,
                "triggered_by": b.triggered_by,
                "pipeline": b.pipeline,
                "age": age(b.finished_at or b.started_at or b.queued_at),
                "duration": span(_seconds(b.started_at, b.finished_at)) if b.started_at else "—",
            }
            for b in db.scalars(
                query.order_by(Build.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
            )
        ]
        finished = db.execute(
            select(Build.id, Build.status, Build.queued_at, Build.started_at, Build.finished_at)
            .where(
                Build.repo_id == repo.id,
                Build.status.in_([str(s) for s in FINISHED]),
                Build.started_at.is_not(None),
                Build.finished_at.is_not(None),
            )
            .order_by(Build.id.desc())
            .limit(CHART_BUILDS)
        ).all()
        deliveries = [
            {
                "received": age(d.received_at),
                "event": d.event,
                "verdict": d.verdict,
                "reason": d.reason,
                "build_id": d.build_id,
            }
            for d in db.execute(
                select(
                    Delivery.received_at,
                    Delivery.event,
                    Delivery.verdict,
                    Delivery.reason,
                    Delivery.build_id,
                )
                .where(Delivery.repo_id == repo.id)
                .order_by(Delivery.id.desc())
                .limit(DELIVERIES)
            )
        ]
        poll_row = db.execute(
            select(Poll.cron, Poll.branches, Poll.last_error, Poll.last_polled_at).where(
                Poll.repo_id == repo.id
            )
        ).first()
        poll = (
            {
                "cron": poll_row.cron,
                "branches": list(poll_row.branches or []),
                "last_error": poll_row.last_error,
                "last_polled": age(poll_row.last_polled_at) if poll_row.last_polled_at else None,
            }
            if poll_row
            else None
        )
        has_secret = db.scalar(select(RepoHook.id).where(RepoHook.repo_id == repo.id)) is not None
    oldest_first = list(reversed(finished))
    durations = chart([(b.id, _seconds(b.started_at, b.finished_at) or 0.0) for b in oldest_first])
    waits = chart([(b.id, _seconds(b.queued_at, b.started_at) or 0.0) for b in oldest_first])
    rated = [b for b in finished if b.status in RATED]
    passed = sum(1 for b in rated if b.status == BuildStatus.PASSED)
    pass_rate = round(100 * passed / len(rated)) if rated else None
    badge_url = f"{svc.settings.public_url}/badge/{repo.acct}/{repo.name}.svg"
    return render_template(
        "dashboard/repo.html",
        repo=repo,
        builds=builds,
        filters=filters,
        page=page,
        pages=pages,
        total=total,
        statuses=[str(s) for s in BuildStatus],
        deliveries=deliveries,
        poll=poll,
        has_secret=has_secret,
        durations=durations,
        waits=waits,
        pass_rate=pass_rate,
        passed=passed,
        rated=len(rated),
        badge_markdown=f"![ocelot]({badge_url})",
    )


@dashboard.post("/repos/<acct>/<name>/build")
def build_now(acct: str, name: str) -> ResponseReturnValue:
    user = _need(BUILD)
    branch = request.form.get("branch", "").strip() or None
    with session_scope(services().engine) as db:
        build_id = build_service.create_build(
            db, f"{acct}/{name}", branch=branch, trigger="api", triggered_by=user.name
        ).id
    services().enqueue(build_id)
    flash(f"build {build_id} queued", "info")
    return redirect(url_for("dashboard.build_page", build_id=build_id))


@dashboard.get("/queue")
def queue() -> ResponseReturnValue:
    """Waiting builds (oldest first), and the workers from the registry with the builds each
    runs: four queries whatever the numbers."""
    columns = (
        Build.id,
        Build.status,
        Build.branch,
        Build.tag,
        Build.pr_id,
        Build.pending_reason,
        Build.queued_at,
        Build.started_at,
        Build.worker,
        Repo.full_name,
    )
    with session_scope(services().engine) as db:
        waiting_rows = db.execute(
            select(*columns)
            .join(Repo, Repo.id == Build.repo_id)
            .where(Build.status.in_([str(s) for s in WAITING]))
            .order_by(Build.queued_at, Build.id)
        ).all()
        running_rows = db.execute(
            select(*columns)
            .join(Repo, Repo.id == Build.repo_id)
            .where(Build.status == BuildStatus.RUNNING)
            .order_by(Build.worker, Build.started_at, Build.id)
        ).all()
    waiting = [
        {
            "id": r.id,
            "status": r.status,
            "repo": r.full_name,
            "ref": _ref(r.branch, r.tag, r.pr_id),
            "reason": r.pending_reason,
            "waited": span(_seconds(r.queued_at, None)),
        }
        for r in waiting_rows
    ]
    by_worker: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for r in running_rows:
        by_worker.setdefault(r.worker or "", []).append(
            {
                "id": r.id,
                "repo": r.full_name,
                "ref": _ref(r.branch, r.tag, r.pr_id),
                "running": span(_seconds(r.started_at, None)),
            }
        )
    with session_scope(services().engine) as db:
        registry = list_workers(db)
    # lost and stopped workers last; a stopped one only while it still matters (an hour)
    shown = [
        w
        for w in registry
        if w.state != WorkerState.STOPPED or w.last_seen_seconds < STOPPED_SHOWN_SECONDS
    ]
    order = {WorkerState.ALIVE: 0, WorkerState.LOST: 1, WorkerState.STOPPED: 2}
    shown.sort(key=lambda w: (order[w.state], w.name))
    known = {w.name for w in registry}
    workers = [
        {
            "name": w.name,
            "host": w.host,
            "executor": w.executor,
            "tags": ", ".join(w.tags) or "—",
            "capacity": w.capacity,
            "busy": len(by_worker.get(w.name, [])),
            "state": str(w.state),
            "seen": span(w.last_seen_seconds) + " ago",
            "version": w.version,
            "builds": by_worker.get(w.name, []),
        }
        for w in shown
    ]
    unregistered = {name: builds for name, builds in by_worker.items() if name not in known}
    return render_template(
        "dashboard/queue.html", waiting=waiting, workers=workers, unregistered=unregistered
    )
