"""Every status word Ocelot stores or shows, in one place, with no dependencies.

The server, the workers and the CLI all import these (the CLI without pulling in SQLAlchemy),
so a status is spelled once. Each enum is a :class:`~enum.StrEnum`: its members *are* the
strings stored in the database and sent over REST, so ``BuildStatus.PASSED == "PASSED"``.

Build life (see :mod:`ocelot.lifecycle` for the only function that moves a build)::

    PENDING_APPROVAL ─approve─▶ QUEUED ─claim─▶ RUNNING ─▶ PASSED | FAILED | KILLED
          │                       │  ▲            │
          └─decline─▶ DECLINED    │  └─hand back / worker lost (new attempt)
                                  └─▶ FAILED_PRESTART | SKIPPED | KILLED
"""

from __future__ import annotations

from enum import StrEnum


class BuildStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"  # untrusted: waits for `ocelot approve`
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    FAILED_PRESTART = "FAILED_PRESTART"  # config invalid, clone failed, image missing
    KILLED = "KILLED"
    SKIPPED = "SKIPPED"  # branch filter or [skip ci]: nothing ran
    DECLINED = "DECLINED"  # an untrusted build nobody let run


class StageStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    KILLED = "KILLED"


class DeliveryVerdict(StrEnum):
    """What became of a webhook delivery."""

    ACCEPTED = "accepted"
    IGNORED = "ignored"
    SKIPPED = "skipped"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class NotificationOutcome(StrEnum):
    """One delivery attempt of a Slack or email notice."""

    SENDING = "sending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"


class WorkerState(StrEnum):
    """A registered worker, as the registry judges it (:mod:`ocelot.services.workers`)."""

    ALIVE = "alive"  # heartbeats arrive
    LOST = "lost"  # gone silent: several heartbeats missed, no clean stop
    STOPPED = "stopped"  # shut down cleanly


FINISHED: frozenset[BuildStatus] = frozenset(
    {
        BuildStatus.PASSED,
        BuildStatus.FAILED,
        BuildStatus.FAILED_PRESTART,
        BuildStatus.KILLED,
        BuildStatus.SKIPPED,
        BuildStatus.DECLINED,
    }
)
# Builds that have not started and may be killed without a worker.
WAITING: frozenset[BuildStatus] = frozenset({BuildStatus.PENDING_APPROVAL, BuildStatus.QUEUED})

# Every move a build may make; anything else is a bug (lifecycle.move refuses it).
BUILD_MOVES: dict[BuildStatus, frozenset[BuildStatus]] = {
    BuildStatus.PENDING_APPROVAL: frozenset(
        {BuildStatus.QUEUED, BuildStatus.DECLINED, BuildStatus.KILLED}
    ),
    BuildStatus.QUEUED: frozenset(
        {
            BuildStatus.RUNNING,
            BuildStatus.FAILED_PRESTART,
            BuildStatus.SKIPPED,
            BuildStatus.KILLED,
        }
    ),
    BuildStatus.RUNNING: frozenset(
        {
            BuildStatus.QUEUED,  # handed back, or its worker was lost: a new attempt
            BuildStatus.PASSED,
            BuildStatus.FAILED,
            BuildStatus.FAILED_PRESTART,
            BuildStatus.KILLED,
        }
    ),
}
