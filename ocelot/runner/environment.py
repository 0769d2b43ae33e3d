"""The environment every stage sees (documented in README, "Build environment")."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocelot.models import Build
from ocelot.status import BuildStatus


def previous_successful_commit(session: Session, build: Build) -> str:
    query = (
        select(Build.hash)
        .where(
            Build.repo_id == build.repo_id,
            Build.branch == build.branch,
            Build.status == BuildStatus.PASSED,
            Build.id < build.id,
        )
        .order_by(Build.id.desc())
        .limit(1)
    )
    return session.scalar(query) or ""


def build_environment(
    session: Session,
    build: Build,
    workspace: str,
    stage: str,
    config_env: dict[str, str],
    stage_env: dict[str, str],
) -> dict[str, str]:
    """Ocelot's variables, then ocelot.yml ``env``, then the stage's ``env`` (later wins)."""
    commit = build.hash or ""
    env = {
        "CI": "true",
        "OCELOT": "true",
        "BUILD_ID": str(build.id),
        "GIT_HASH": commit,
        "GIT_HASH_SHORT": commit[:7],
        "GIT_BRANCH": build.branch or "",
        "WORKSPACE": workspace,
        "GIT_PREVIOUS_SUCCESSFUL_COMMIT": previous_successful_commit(session, build),
        "OCELOT_REPO": build.repo.full_name,
        "OCELOT_STAGE": stage,
        "OCELOT_TRIGGER": build.trigger,
        "OCELOT_TRIGGERED_BY": build.triggered_by or "",
    }
    if build.tag:
        env["GIT_TAG"] = build.tag
    if build.pr_id:
        env["OCELOT_PR_ID"] = build.pr_id
    if build.upstream_repo:  # started by a subscribed repository's passing build
        env["OCELOT_UPSTREAM_REPO"] = build.upstream_repo
        env["OCELOT_UPSTREAM_BUILD_ID"] = str(build.upstream_build_id or "")
        env["OCELOT_UPSTREAM_HASH"] = build.upstream_hash or ""
    env.update(config_env)
    env.update(stage_env)
    return env
