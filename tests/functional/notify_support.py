"""Helpers for the notification tests: finished builds written straight into the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import Build, LogChunk, Repo, Stage, utcnow

YML = """\
image: ocelot/busybox
buildTool: shell
branches: [ALL]
notify:
{notify}
stages:
  - name: build
    script: [echo build]
  - name: test
    script: [make test]
"""


def yml(notify: str) -> str:
    return YML.format(notify="\n".join("  " + line for line in notify.strip().splitlines()))


def finished_build(
    engine: Engine,
    status: str,
    notify: str,
    *,
    repo: str = "acme/app",
    branch: str = "master",
    log: str = "",
) -> int:
    """A finished build of ``repo`` on ``branch`` with two stages; ``test`` fails when the
    build failed, and ``log`` is its output."""
    now = utcnow()
    with session_scope(engine) as session:
        row = session.scalar(select(Repo).where(Repo.full_name == repo))
        if row is None:
            acct, name = repo.split("/")
            row = Repo(acct=acct, name=name, full_name=repo, url="/srv/git/app")
            session.add(row)
        failed = status == "FAILED"
        build = Build(
            repo=row,
            branch=branch,
            hash="0123456789abcdef0123456789abcdef01234567",
            status=status,
            trigger="push",
            triggered_by="alice",
            attempt=1,
            config_text=yml(notify),
            queued_at=now - timedelta(seconds=70),
            started_at=now - timedelta(seconds=65),
            finished_at=now,
            failure_reason="stage 'test' failed: exit code 2" if failed else None,
        )
        build.stages = [
            Stage(attempt=1, position=0, name="build", status="PASSED", exit_code=0),
            Stage(
                attempt=1,
                position=1,
                name="test",
                status="FAILED" if failed else "PASSED",
                exit_code=2 if failed else 0,
            ),
        ]
        session.add(build)
        session.flush()
        if log:
            session.add(LogChunk(build_id=build.id, seq=1, attempt=1, stage="test", text=log))
        return build.id


def status_of(engine: Engine, build_id: int) -> str:
    with session_scope(engine) as session:
        status = session.scalar(select(Build.status).where(Build.id == build_id))
        assert status is not None
        return status
