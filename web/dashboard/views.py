"""The dashboard's pages and actions. Views call the same services as the REST API
(``web/api/builds.py``) and enqueue after the commit the same way."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ocelot.db import session_scope
from ocelot.errors import OcelotError, PermissionDenied, Unauthorized
from ocelot.logstream import follow, stored_chunks
from ocelot.models import Build, Repo, utcnow
from ocelot.services import builds as build_service
from ocelot.services import trust as trust_service
from ocelot.services.tokens import BUILD
from ocelot.status import FINISHED, WAITING, BuildStatus
from web.dashboard.auth import User, current_user, sign_in, sign_out
from web.dashboard.blueprint import dashboard
from web.extensions import services

_T = TypeVar("_T")

STRIP = 20  # results shown per repository on the home page
LOG_PAGE_CHARS = 1 << 20  # at most this much stored log is rendered into the page
PUBLIC = frozenset({"dashboard.login", "dashboard.logout", "dashboard.badge", "dashboard.static"})
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


# --- sign-in -------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """A same-site path to go to after signing in (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("dashboard.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("dashboard.home")
    return target


@dashboard.before_request
def _require_session() -> ResponseReturnValue | None:
    g.user = None
    try:
        g.user = current_user()
    except Unauthorized as exc:
        flash(exc.message, "error")
    if g.user is not None or request.endpoint in PUBLIC:
        return None
    if request.endpoint == "dashboard.build_events":  # an EventSource cannot follow a login
        return Response("sign in first\n", status=401, mimetype="text/plain")
    nxt = request.full_path if request.query_string else request.path
    return redirect(url_for("dashboard.login", next=nxt))


@dashboard.app_context_processor
def _globals() -> dict[str, Any]:
    return {"user": g.get("user"), "BUILD_ROLE": BUILD}


@dashboard.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    nxt = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.user is not None:
            return redirect(nxt)
        return render_template("dashboard/login.html", next=nxt, error=None)
    try:
        sign_in(request.form.get("token", ""))
    except Unauthorized as exc:
        message = exc.message
        if "missing" in message:
            message = "paste an API token to sign in"
        return render_template("dashboard/login.html", next=nxt, error=message), 401
    return redirect(nxt)


@dashboard.post("/logout")
def logout() -> ResponseReturnValue:
    sign_out()
    flash("signed out", "info")
    return redirect(url_for("dashboard.login"))


# --- formatting ----------------------------------------------------------------------------


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None:
        return None
    return max(((end or utcnow()) - start).total_seconds(), 0.0)


def span(seconds: float | None) -> str:
    """``42s``, ``3m 05s``, ``2h 10m``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def age(when: datetime | None) -> str:
    if when is None:
        return "—"
    return f"{span(_seconds(when, None))} ago"


def stamp(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else ""


dashboard.add_app_template_filter(span, "span")
dashboard.add_app_template_filter(age, "age")
dashboard.add_app_template_filter(stamp, "stamp")


def _ref(branch: str | None, tag: str | None, pr_id: str | None) -> str:
    parts = []
    if pr_id:
        parts.append(f"PR #{pr_id}")
    if tag:
        parts.append(f"tag {tag}")
    if branch:
        parts.append(branch)
    return " · ".join(parts) or "—"


# --- home ----------------------------------------------------------------------------------


@dashboard.get("/")
def home() -> ResponseReturnValue:
    """Repositories by group, each with its last build and a strip of its last results.
    Three queries whatever the number of repositories: groups, repositories, builds."""
    group = request.args.get("group") or None
    with session_scope(services().engine) as db:
        groups = [
            name for name in db.scalars(select(Repo.group).distinct().order_by(Repo.group)) if name
        ]
        repo_query = select(Repo.id, Repo.full_name, Repo.acct, Repo.name, Repo.group)
        if group:
            repo_query = repo_query.where(Repo.group == group)
        repos = db.execute(repo_query.order_by(Repo.group, Repo.full_name)).all()
        position = (
            func.row_number()
            .over(partition_by=Build.repo_id, order_by=Build.id.desc())
            .label("position")
        )
        ranked = select(
            Build.id,
            Build.repo_id,
            Build.status,
            Build.branch,
            Build.tag,
            Build.pr_id,
            Build.hash,
            Build.queued_at,
            Build.started_at,
            Build.finished_at,
            position,
        )
        if group:
            ranked = ranked.where(Build.repo_id.in_(select(Repo.id).where(Repo.group == group)))
        recent = ranked.subquery()
        rows = db.execute(
            select(recent)
            .where(recent.c.position <= STRIP)
            .order_by(recent.c.repo_id, recent.c.id.desc())
        ).all()
    builds: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        builds.setdefault(row.repo_id, []).append(
            {
                "id": row.id,
                "status": row.status,
                "ref": _ref(row.branch, row.tag, row.pr_id),
                "hash_short": row.hash[:7] if row.hash else None,
                "age": age(row.finished_at or row.started_at or row.queued_at),
                "duration": span(_seconds(row.started_at, row.finished_at)),
            }
        )
    grouped: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for repo in repos:
        recent_builds = builds.get(repo.id, [])
        grouped.setdefault(repo.group or "", []).append(
            {
                "full_name": repo.full_name,
                "acct": repo.acct,
                "name": repo.name,
                "last": recent_builds[0] if recent_builds else None,
                "strip": list(reversed(recent_builds)),  # oldest left, newest right
            }
        )
    return render_template("dashboard/home.html", grouped=grouped, groups=groups, group=group)


# --- build page ----------------------------------------------------------------------------


def _log_for_page(build_id: int) -> tuple[str, int, int]:
    """(text shown, seq of the last chunk stored, characters left out at the start)."""
    chunks = stored_chunks(services().engine, build_id)
    last_seq = chunks[-1].seq if chunks else 0
    kept: list[str] = []
    size = 0
    for chunk in reversed(chunks):
        if size + len(chunk.text) > LOG_PAGE_CHARS and kept:
            break
        kept.append(chunk.text)
        size += len(chunk.text)
    total = sum(len(c.text) for c in chunks)
    return _ANSI.sub("", "".join(reversed(kept))), last_seq, total - size


@dashboard.get("/builds/<int:build_id>")
def build_page(build_id: int) -> ResponseReturnValue:
    with session_scope(services().engine) as db:
        build = build_service.get_build(db, build_id)
        data = build.to_dict()
        data["repo_acct"], data["repo_name"] = build.repo.acct, build.repo.name
        data["ref"] = _ref(build.branch, build.tag, build.pr_id)
        data["queue_wait"] = span(_seconds(build.queued_at, build.started_at))
        data["duration"] = span(_seconds(build.started_at, build.finished_at))
        data["queued"] = build.queued_at
        data["finished"] = build.status in FINISHED
        data["waiting"] = build.status in WAITING
        data["pending_approval"] = build.status == BuildStatus.PENDING_APPROVAL
        data["approved_at_dt"] = build.approved_at
        stages = [
            {
                **stage.to_dict(),
                "duration": span(_seconds(stage.started_at, stage.finished_at))
                if stage.started_at
                else "—",
            }
            for stage in build.current_stages()
        ]
    log_text, last_seq, cut = _log_for_page(build_id)
    return render_template(
        "dashboard/build.html",
        build=data,
        stages=stages,
        log_text=log_text,
        last_seq=last_seq,
        log_cut=cut,
    )


@dashboard.get("/builds/<int:build_id>/events")
def build_events(build_id: int) -> ResponseReturnValue:
    """The log from ``?after=SEQ`` on, live, as Server-Sent Events (``log`` and ``end``,
    the same events as ``GET /api/v1/builds/<id>/logs?follow=1``)."""
    svc = services()
    with session_scope(svc.engine) as db:
        build_service.get_build(db, build_id)  # 404 for an unknown build
    try:
        after = max(int(request.args.get("after", "0")), 0)
    except ValueError:
        after = 0

    def events() -> Iterator[str]:
        for event in follow(svc.engine, svc.redis, build_id):
            if event.kind == "keepalive":
                yield ": keepalive\n\n"
                continue
            if event.kind == "log" and int(event.data.get("seq", 0)) <= after:
                continue
            yield f"event: {event.kind}\ndata: {json.dumps(event.data)}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream_with_context(events()), mimetype="text/event-stream", headers=headers)


@dashboard.get("/builds/<int:build_id>/log.txt")
def raw_log(build_id: int) -> ResponseReturnValue:
    svc = services()
    with session_scope(svc.engine) as db:
        build_service.get_build(db, build_id)
    text = "".join(chunk.text for chunk in stored_chunks(svc.engine, build_id))
    headers = {"Content-Disposition": f'attachment; filename="build-{build_id}.log"'}
    return Response(text, mimetype="text/plain; charset=utf-8", headers=headers)


# --- actions (role build) ------------------------------------------------------------------


def _need(role: str) -> User:
    user: User = g.user
    if not user.may(role):
        raise PermissionDenied(
            f"this needs a token with role {role!r} (yours is {user.role!r})",
            required_role=role,
            role=user.role,
        )
    return user


def _back(build_id: int) -> ResponseReturnValue:
    return redirect(url_for("dashboard.build_page", build_id=build_id))


@dashboard.post("/builds/<int:build_id>/kill")
def kill(build_id: int) -> ResponseReturnValue:
    if _act(build_id, lambda db, by: build_service.kill_build(db, build_id, by).id) is not None:
        flash(f"kill requested for build {build_id}", "info")
    return _back(build_id)


def _act(build_id: int, step: Callable[[Session, str], _T]) -> _T | None:
    """Run one build action as the signed-in ``build`` user; a 409 (the build moved on
    meanwhile) becomes a message on the page and None."""
    user = _need(BUILD)
    try:
        with session_scope(services().engine) as db:
            return step(db, user.name)
    except OcelotError as exc:
        if exc.status_code != 409:
            raise
        flash(exc.message, "error")
        return None


@dashboard.post("/builds/<int:build_id>/rebuild")
def rebuild(build_id: int) -> ResponseReturnValue:
    new_id = _act(build_id, lambda db, by: build_service.rebuild(db, build_id, by).id)
    if new_id is None:
        return _back(build_id)
    services().enqueue(new_id)
    flash(f"build {new_id} queued: a rebuild of build {build_id}", "info")
    return _back(new_id)


@dashboard.post("/builds/<int:build_id>/approve")
def approve(build_id: int) -> ResponseReturnValue:
    if _act(build_id, lambda db, by: trust_service.approve(db, build_id, by).id) is not None:
        services().enqueue(build_id)
        flash(f"build {build_id} approved: it runs without credentials", "info")
    return _back(build_id)


@dashboard.post("/builds/<int:build_id>/decline")
def decline(build_id: int) -> ResponseReturnValue:
    status = _act(build_id, lambda db, by: trust_service.decline(db, build_id, by).status)
    if status is not None:
        services().announce_end(build_id, status)
        flash(f"build {build_id} declined", "info")
    return _back(build_id)


# --- badge (public) ------------------------------------------------------------------------

BADGE_STATUSES = (
    BuildStatus.PASSED,
    BuildStatus.FAILED,
    BuildStatus.FAILED_PRESTART,
    BuildStatus.KILLED,
)
_BADGE = {
    BuildStatus.PASSED: ("passing", "#2e7d32"),
    BuildStatus.FAILED: ("failing", "#c62828"),
    BuildStatus.FAILED_PRESTART: ("error", "#c62828"),
    BuildStatus.KILLED: ("killed", "#6d4c41"),
}
_UNKNOWN = ("unknown", "#757575")


def badge_svg(label: str, colour: str) -> str:
    left, right = 38, 8 + 7 * len(label)
    width = left + right
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" '
        f'role="img" aria-label="build: {label}">'
        f"<title>build: {label}</title>"
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        '<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="6" y="14">build</text>'
        f'<text x="{left + 4}" y="14">{label}</text></g></svg>'
    )


@dashboard.get("/badge/<acct>/<name>.svg")
def badge(acct: str, name: str) -> ResponseReturnValue:
    """The status of the last finished build (on ``?branch=``), nothing else. An untracked
    repository looks like one without builds, so the badge tells nobody what is tracked.
    Pull request builds do not count: a branch's badge is about the branch."""
    branch = request.args.get("branch") or None
    with session_scope(services().engine) as db:
        query = (
            select(Build.status)
            .join(Repo, Repo.id == Build.repo_id)
            .where(
                Repo.full_name == f"{acct}/{name}",
                Build.status.in_([str(s) for s in BADGE_STATUSES]),
                Build.pr_id.is_(None),
            )
            .order_by(Build.id.desc())
            .limit(1)
        )
        if branch:
            query = query.where(Build.branch == branch)
        status = db.scalar(query)
    label, colour = _BADGE.get(BuildStatus(status), _UNKNOWN) if status else _UNKNOWN
    return Response(
        badge_svg(label, colour),
        mimetype="image/svg+xml",
        headers={"Cache-Control": "no-cache"},
    )
