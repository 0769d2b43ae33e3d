"""Tracking repositories: add, list (with each one's last build), look up, remove."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, func, select, type_coerce
from sqlalchemy.orm import Session, aliased

from ocelot.errors import Conflict, InvalidRequest, NotTracked
from ocelot.forges import DEFAULT_VCS_TYPE, VCS_TYPES
from ocelot.models import Build, Repo

_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_NEWEST = aliased(Build)  # made once: building an alias costs milliseconds


def split_name(full_name: str) -> tuple[str, str]:
    """``"acme/demo"`` → ``("acme", "demo")``; anything else is a 400."""
    if not _NAME.match(full_name or ""):
        raise InvalidRequest(f"repository must be written ACCT/REPO, got {full_name!r}")
    acct, name = full_name.split("/")
    return acct, name


def get_repo(session: Session, full_name: str) -> Repo:
    repo = session.scalar(select(Repo).where(Repo.full_name == full_name))
    if repo is None:
        raise NotTracked(full_name)
    return repo


def add_repo(
    session: Session,
    full_name: str,
    url: str,
    vcs_type: str = DEFAULT_VCS_TYPE,
    group: str | None = None,
) -> Repo:
    acct, name = split_name(full_name)
    if not url or not url.strip():
        raise InvalidRequest("a repository needs a clone URL (--url)")
    if vcs_type not in VCS_TYPES:
        raise InvalidRequest(f"vcs_type must be one of {', '.join(VCS_TYPES)}, got {vcs_type!r}")
    if session.scalar(select(Repo.id).where(Repo.full_name == full_name)) is not None:
        raise Conflict(f"{full_name} is tracked by ocelot already")
    repo = Repo(
        acct=acct, name=name, full_name=full_name, url=url.strip(), vcs_type=vcs_type, group=group
    )
    session.add(repo)
    session.flush()
    return repo


def _iso(value: datetime | None) -> str | None:
    """:func:`~ocelot.models.base.iso` of a naive UTC value read without its type's
    conversion to an aware one."""
    return f"{value.isoformat()}Z" if value else None


def _naive(column: Any) -> Any:
    return type_coerce(column, DateTime)  # naive UTC as stored: no per-value conversion


def _pg_iso(column: str) -> str:
    """:func:`~ocelot.models.base.iso` in PostgreSQL: microseconds only when there are."""
    return (
        f"to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN mod(date_part('microseconds', {column})::int, 1000000) = 0 THEN ''"
        f" ELSE to_char({column}, '.US') END || 'Z'"
    )


# The repository list in PostgreSQL: the JSON made by the database, one text value for the
# whole list (for a thousand repositories, making a dict per row and encoding it costs more
# than the query). Each repository's newest build through a LATERAL probe of the
# (repo_id, id) index. Keys, values and order are those of the portable path below, which
# tests/functional/test_api_query_counts.py checks against Repo.to_dict and Build.to_dict.
_PG_LIST = f"""
SELECT coalesce(json_agg(json_build_object(
    'id', r.id, 'full_name', r.full_name, 'acct', r.acct, 'name', r.name, 'url', r.url,
    'vcs_type', r.vcs_type, 'group', r."group", 'created_at', {_pg_iso("r.created_at")},
    'fork_prs', r.fork_prs, 'untrusted_prs', r.untrusted_prs,
    'last_build', CASE WHEN b.id IS NOT NULL THEN json_build_object(
        'id', b.id, 'status', b.status, 'hash', b.hash, 'hash_short', left(b.hash, 7),
        'branch', b.branch, 'tag', b.tag, 'pr_id', b.pr_id, 'pipeline', b.pipeline,
        'trigger', b.trigger, 'queued_at', {_pg_iso("b.queued_at")},
        'started_at', {_pg_iso("b.started_at")}, 'finished_at', {_pg_iso("b.finished_at")},
        'duration_seconds',
        round(extract(epoch FROM b.finished_at - b.started_at)::numeric, 3)) END)
    ORDER BY r.full_name)::text, '[]')
FROM repos AS r
LEFT JOIN LATERAL (
    SELECT id, status, hash, branch, tag, pr_id, pipeline, trigger, queued_at, started_at,
        finished_at
    FROM builds WHERE builds.repo_id = r.id ORDER BY builds.id DESC LIMIT 1
) AS b ON true
WHERE %(group)s::varchar IS NULL OR r."group" = %(group)s::varchar
"""


def repo_list_json(session: Session, group: str | None = None) -> str:
    """The repository list as JSON text: each repository (of ``group``) by name as
    :meth:`Repo.to_dict` shows it, with ``last_build``, a summary of its newest build (null
    before its first). One statement whatever the number of repositories."""
    if session.get_bind().dialect.name == "postgresql":
        conn = session.connection()
        return str(conn.exec_driver_sql(_PG_LIST, {"group": group or None}).scalar_one())
    return json.dumps(list_repos_with_last_build(session, group))


def list_repos_with_last_build(session: Session, group: str | None = None) -> list[dict[str, Any]]:
    """Each repository (of ``group``) by name as :meth:`Repo.to_dict` shows it, with
    ``last_build``: a summary of its newest build (None before its first build).

    One statement whatever the number of repositories: the newest build's id is one probe
    of the ``(repo_id, id)`` index per repository (a correlated ``max`` both SQLite and
    PostgreSQL answer from the index), and that build is then read by its primary key.
    Plain columns, not objects: for a thousand repositories the ORM's per-object work
    costs more than the query itself."""
    last_id = (
        select(func.max(_NEWEST.id)).where(_NEWEST.repo_id == Repo.id).correlate(Repo)
    ).scalar_subquery()
    query = (
        select(
            Repo.id,
            Repo.full_name,
            Repo.acct,
            Repo.name,
            Repo.url,
            Repo.vcs_type,
            Repo.group,
            _naive(Repo.created_at),
            Repo.fork_prs,
            Repo.untrusted_prs,
            Build.id,
            Build.status,
            Build.hash,
            Build.branch,
            Build.tag,
            Build.pr_id,
            Build.pipeline,
            Build.trigger,
            _naive(Build.queued_at),
            _naive(Build.started_at),
            _naive(Build.finished_at),
        )
        .outerjoin(Build, Build.id == last_id)
        .order_by(Repo.full_name)
    )
    if group:
        query = query.where(Repo.group == group)
    listed = []
    for (
        repo_id,
        full_name,
        acct,
        name,
        url,
        vcs_type,
        repo_group,
        created_at,
        fork_prs,
        untrusted_prs,
        build_id,
        status,
        hash_,
        branch,
        tag,
        pr_id,
        pipeline,
        trigger,
        queued_at,
        started_at,
        finished_at,
    ) in session.connection().execute(query):
        listed.append(
            {
                "id": repo_id,
                "full_name": full_name,
                "acct": acct,
                "name": name,
                "url": url,
                "vcs_type": vcs_type,
                "group": repo_group,
                "created_at": _iso(created_at),
                "fork_prs": fork_prs,
                "untrusted_prs": untrusted_prs,
                "last_build": None
                if build_id is None
                else {
                    "id": build_id,
                    "status": status,
                    "hash": hash_,
                    "hash_short": hash_[:7] if hash_ else None,
                    "branch": branch,
                    "tag": tag,
                    "pr_id": pr_id,
                    "pipeline": pipeline,
                    "trigger": trigger,
                    "queued_at": _iso(queued_at),
                    "started_at": _iso(started_at),
                    "finished_at": _iso(finished_at),
                    "duration_seconds": round((finished_at - started_at).total_seconds(), 3)
                    if started_at and finished_at
                    else None,
                },
            }
        )
    return listed


def remove_repo(session: Session, full_name: str) -> None:
    session.delete(get_repo(session, full_name))
