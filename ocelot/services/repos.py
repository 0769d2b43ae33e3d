"""Tracking repositories: add, list, look up, remove."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocelot.errors import Conflict, InvalidRequest, NotTracked
from ocelot.forges import DEFAULT_VCS_TYPE, VCS_TYPES
from ocelot.models import Repo

_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


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


def list_repos(session: Session, group: str | None = None) -> list[Repo]:
    query = select(Repo).order_by(Repo.full_name)
    if group:
        query = query.where(Repo.group == group)
    return list(session.scalars(query))


def remove_repo(session: Session, full_name: str) -> None:
    session.delete(get_repo(session, full_name))
