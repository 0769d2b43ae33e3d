"""The dashboard's pages and actions. Views call the same services as the REST API
(``web/api/builds.py``) and enqueue after the commit the same way."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from flask import (
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape
from sqlalchemy import Connection, and_, func, select
from sqlalchemy.orm import Session

from ocelot.db import session_scope
from ocelot.errors import OcelotError, PermissionDenied, Unauthorized
from ocelot.models import Build, Repo, utcnow
from ocelot.services import builds as build_service
from ocelot.services import trust as trust_service
from ocelot.services.tokens import BUILD
from ocelot.status import BuildStatus
from web.dashboard.auth import User, current_user, sign_in, sign_out
from web.dashboard.blueprint import dashboard
from web.extensions import services

_T = TypeVar("_T")

STRIP = 20  # results shown per repository on the home page
# what the page's script fetches: answered 401, not sent to the login page
_FETCHED = frozenset({"dashboard.build_events", "dashboard.build_state", "dashboard.build_lines"})
PUBLIC = frozenset({"dashboard.login", "dashboard.logout", "dashboard.badge", "dashboard.static"})


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
    if request.endpoint in _FETCHED:  # an EventSource or fetch cannot follow a login
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


@dataclass(frozen=True, slots=True)
class LastBuild:
    id: int
    status: str
    ref: str
    hash_short: str | None
    age: str
    duration: str


def _home_row(
    full_name: str, last: LastBuild | None, strip: str, repo_prefix: str, build_prefix: str
) -> Markup:
    """One repository's row of the home page, made here rather than in the template: Jinja
    spends ~30 us a row on its dozen expressions, a third of the page for 1,000 rows. Every
    value from the database is escaped; ``strip`` and the prefixes are markup made here."""
    name = escape(full_name)
    href = escape(repo_prefix + quote(full_name, safe="/"))
    if last is None:
        cells = '<td colspan="5" class="empty">no builds yet</td>'
    else:
        status = escape(last.status)
        cells = (
            f'<td><a class="status s-{status.lower()}" href="{build_prefix}{last.id}">'
            f"#{last.id} {status}</a></td><td>{escape(last.ref)}</td>"
            f"<td><code>{escape(last.hash_short or '—')}</code></td>"
            f"<td>{escape(last.age)}</td><td>{escape(last.duration)}</td>"
        )
    return Markup(
        f'<tr class="repo" data-repo="{name}"><td class="name"><a href="{href}">{name}</a>'
        f'</td>{cells}<td class="strip">{strip}</td></tr>\n'
    )


@dashboard.get("/")
def home() -> ResponseReturnValue:
    """Repositories by group, each with its last build and a strip of its last results.
    Three queries whatever the number of repositories (four with a group filter): the
    repositories, the last :data:`STRIP` results of each, and the details of each one's
    last build; plus the group names when a filter hides some."""
    group = request.args.get("group") or None
    with session_scope(services().engine) as db:
        repo_query = select(Repo.id, Repo.full_name, Repo.group)
        if group:
            repo_query = repo_query.where(Repo.group == group)
        repos = db.execute(repo_query.order_by(Repo.group, Repo.full_name)).all()
        if group:
            names = db.scalars(select(Repo.group).distinct().order_by(Repo.group))
            groups = [name for name in names if name]
        else:  # every repository is listed: its groups are all there are
            groups = sorted({repo.group for repo in repos if repo.group})
        conn = db.connection()
        strips = _strips(conn, group)
        newest = [max(ids_and_statuses)[0] for ids_and_statuses in strips.values()]
        last_rows = conn.execute(
            select(
                Build.id,
                Build.repo_id,
                Build.status,
                Build.hash,
                Build.branch,
                Build.tag,
                Build.pr_id,
                Build.queued_at,
                Build.started_at,
                Build.finished_at,
            ).where(Build.id.in_(newest))
        ).all()
    latest = {
        last.repo_id: LastBuild(
            id=last.id,
            status=last.status,
            ref=_ref(last.branch, last.tag, last.pr_id),
            hash_short=last.hash[:7] if last.hash else None,
            age=age(last.finished_at or last.started_at or last.queued_at),
            duration=span(_seconds(last.started_at, last.finished_at)),
        )
        for last in last_rows
    }
    build_prefix = str(escape(url_for("dashboard.build_page", build_id=0)[:-1]))  # one url_for
    repo_prefix = url_for("dashboard.repo_page", acct="a", name="b")[: -len("a/b")]
    opening = {str(st): f'<a class="dot s-{st.lower()}" href="{build_prefix}' for st in BuildStatus}
    grouped: OrderedDict[str, list[Markup]] = OrderedDict()
    for repo in repos:
        # oldest left, newest right; made here: 20,000 dots are too many for Jinja
        strip = "".join(
            f'{opening[status]}{build_id}" title="#{build_id} {status}"></a>'
            for build_id, status in sorted(strips.get(repo.id, ()))
        )
        row = _home_row(repo.full_name, latest.get(repo.id), strip, repo_prefix, build_prefix)
        grouped.setdefault(repo.group or "", []).append(row)
    return render_template("dashboard/home.html", grouped=grouped, groups=groups, group=group)


def _strips(conn: Connection, group: str | None) -> dict[int, list[tuple[int, str]]]:
    """``(build id, status)`` of the last :data:`STRIP` builds of each repository (of
    ``group``), by repository id, in no particular order.

    Each repository's STRIP-th newest build id is found through the ``(repo_id, id)`` index,
    and the builds from there on are its strip: no scan of older builds. The CTE is
    materialized, else SQLite may fold it in and run the subquery per build row. The rows
    (20,000 for 1,000 repositories) are read from the driver's cursor as plain tuples: a
    result row object each would cost as much as the query itself.
    """
    floor = (
        select(Build.id)
        .where(Build.repo_id == Repo.id)
        .order_by(Build.id.desc())
        .limit(1)
        .offset(STRIP - 1)
        .correlate(Repo)
        .scalar_subquery()
    )
    floors = select(Repo.id.label("repo_id"), func.coalesce(floor, 0).label("floor"))
    if group:
        floors = floors.where(Repo.group == group)
    cut = floors.cte("floors").prefix_with("MATERIALIZED")
    result = conn.execute(
        select(Build.id, Build.repo_id, Build.status).join(
            cut, and_(Build.repo_id == cut.c.repo_id, Build.id >= cut.c.floor)
        )
    )
    try:
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    strips: dict[int, list[tuple[int, str]]] = {}
    for build_id, repo_id, status in rows:
        found = strips.get(repo_id)
        if found is None:
            found = strips[repo_id] = []
        found.append((build_id, status))
    return strips


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
