"""A build: one run of a repository's ocelot.yml at one commit, and its stages.

Build states: ``QUEUED → RUNNING → PASSED | FAILED | KILLED``, plus ``FAILED_PRESTART``
(config invalid, clone failed, image missing) and ``SKIPPED`` (the branch filter refused the
branch; nothing ran). An *untrusted* build (a pull request from a fork, see
:mod:`ocelot.services.trust`) may start in ``PENDING_APPROVAL`` and go on to ``QUEUED`` when
approved or end ``DECLINED``. Stage states: ``PENDING → RUNNING → PASSED | FAILED | SKIPPED |
KILLED``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ocelot.models.base import Base, UTCDateTime, iso, utcnow
from ocelot.models.repo import Repo
from ocelot.pipeline.layout import DEFAULT_PIPELINE
from ocelot.status import FINISHED, WAITING, BuildStatus, StageStatus

TRIGGERS = ("cli", "api", "push", "pull_request", "tag", "poll", "rebuild", "upstream")


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


class Build(Base):
    __tablename__ = "builds"
    # a repository's newest builds (dashboard strip, listings) without a sort of all of them
    # and at most one build of a pipeline per repository per upstream build (subscriptions: a
    # redelivered or concurrent finish of the upstream never builds the downstream twice).
    # The API's reads at a million builds (migration 0016): a branch's or a pipeline's newest,
    # of one repository or of all, and a hash prefix (LIKE 'abc%') in PostgreSQL whatever
    # the database's collation.
    __table_args__ = (
        Index("ix_builds_repo_id_id", "repo_id", "id"),
        Index("ix_builds_repo_id_branch_id", "repo_id", "branch", "id"),
        Index("ix_builds_branch_id", "branch", "id"),
        Index("ix_builds_repo_id_pipeline_id", "repo_id", "pipeline", "id"),
        Index("ix_builds_pipeline_id", "pipeline", "id"),
        Index("ix_builds_hash", "hash", postgresql_ops={"hash": "varchar_pattern_ops"}),
        # partial: a rebuild of a downstream build keeps its upstream (OCELOT_UPSTREAM_*)
        Index(
            "uq_builds_upstream",
            "upstream_build_id",
            "repo_id",
            "pipeline",
            unique=True,
            sqlite_where=text("trigger = 'upstream'"),
            postgresql_where=text("trigger = 'upstream'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    hash: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[str | None] = mapped_column(String(500))
    tag: Mapped[str | None] = mapped_column(String(500))
    pr_id: Mapped[str | None] = mapped_column(String(50))
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=BuildStatus.QUEUED, index=True)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(20), default="cli")
    triggered_by: Mapped[str | None] = mapped_column(String(200))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    changeset: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    machine_tag: Mapped[str | None] = mapped_column(String(200))
    image: Mapped[str | None] = mapped_column(String(500))
    config_text: Mapped[str | None] = mapped_column(Text)
    workspace: Mapped[str | None] = mapped_column(String(1000))
    kill_requested_by: Mapped[str | None] = mapped_column(String(200))
    pending_reason: Mapped[str | None] = mapped_column(Text)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Untrusted builds (code from a fork) get no credentials, no local executor and the
    # notify block of the destination branch's ocelot.yml (``trusted_config_text``).
    trusted: Mapped[bool] = mapped_column(Boolean, default=True)
    trust_reason: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trusted_config_text: Mapped[str | None] = mapped_column(Text)
    # One entry per attempt that did not finish the build: {attempt, worker, reason, at}.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # What finish left in place for debugging (OCELOT_KEEP_CONTAINERS): the docker container
    # name (local executor: the workspace path); cleared when a janitor or `admin prune`
    # removes it. See ocelot.runner.leftovers.
    kept_container: Mapped[str | None] = mapped_column(String(300))
    # Several pipelines per repository (ocelot.pipeline.layout): which one this build runs
    # (``default`` is ocelot.yml, NAME is .ocelot/NAME.yml); the first build of the event it
    # belongs to (None: an event's build whose route has not yet made the builds of the
    # commit's other pipelines); and the build of the same event it waits for (depends_on).
    pipeline: Mapped[str] = mapped_column(
        String(100), default=DEFAULT_PIPELINE, server_default=DEFAULT_PIPELINE
    )
    event_id: Mapped[int | None] = mapped_column(Integer, index=True)
    waiting_for: Mapped[int | None] = mapped_column(Integer, index=True)
    # Images its build_image stages made (ocelot.runner.image_stage): one entry per stage
    # and attempt, {stage, position, attempt, image_id, context, tags, pushed: {tag: digest},
    # reused_from, trusted, note}.
    images: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Upstream → downstream (ocelot.services.subscriptions): for a build started because a
    # subscribed repository's build passed, that repository, its build (the event's first
    # build) and its commit; the stages see them as OCELOT_UPSTREAM_*.
    upstream_repo: Mapped[str | None] = mapped_column(String(401))
    upstream_build_id: Mapped[int | None] = mapped_column(Integer)
    upstream_hash: Mapped[str | None] = mapped_column(String(64))

    repo: Mapped[Repo] = relationship(lazy="joined")
    stages: Mapped[list[Stage]] = relationship(
        back_populates="build",
        order_by="(Stage.attempt, Stage.position)",
        cascade="all, delete-orphan",
    )

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def current_stages(self) -> list[Stage]:
        return [s for s in self.stages if s.attempt == self.attempt]

    def to_dict(self, with_stages: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "repo": self.repo.full_name,
            "hash": self.hash,
            "hash_short": self.hash[:7] if self.hash else None,
            "branch": self.branch,
            "tag": self.tag,
            "pr_id": self.pr_id,
            "message": self.message,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "trigger": self.trigger,
            "triggered_by": self.triggered_by,
            "forced": self.forced,
            "queued_at": iso(self.queued_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "queue_wait_seconds": _seconds(self.queued_at, self.started_at),
            "duration_seconds": _seconds(self.started_at, self.finished_at),
            "worker": self.worker,
            "attempt": self.attempt,
            "machine_tag": self.machine_tag,
            "image": self.image,
            "pending_reason": self.pending_reason if self.status in WAITING else None,
            "trusted": self.trusted,
            "trust_reason": self.trust_reason,
            "approved_by": self.approved_by,
            "approved_at": iso(self.approved_at),
            "attempts": list(self.history or []),
            "kept_container": self.kept_container,
            "pipeline": self.pipeline,
            "event_id": self.event_id,
            "waiting_for": self.waiting_for if self.status in WAITING else None,
            "images": list(self.images or []),
            "upstream": (
                {
                    "repo": self.upstream_repo,
                    "build_id": self.upstream_build_id,
                    "hash": self.upstream_hash,
                }
                if self.upstream_repo
                else None
            ),
        }
        if with_stages:
            data["stages"] = [s.to_dict() for s in self.current_stages()]
        return data


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("build_id", "attempt", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("builds.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default=StageStatus.PENDING)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    messages: Mapped[list[str]] = mapped_column(JSON, default=list)

    build: Mapped[Build] = relationship(back_populates="stages")

    def add_message(self, text: str) -> None:
        self.messages = [*(self.messages or []), text]

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "name": self.name,
            "status": self.status,
            "exit_code": self.exit_code,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_seconds": _seconds(self.started_at, self.finished_at),
            "messages": list(self.messages or []),
        }
