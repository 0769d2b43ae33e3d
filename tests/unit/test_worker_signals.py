"""What the worker publishes when a task ends, and that every worker connects the handlers."""

from __future__ import annotations

from ocelot.runner.context import Announcement
from ocelot.status import BuildStatus
from worker.base import POLICY, RetryPolicy
from worker.factory import TASK_MODULES
from worker.signals import announce


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, int]] = []
        self.fail = fail

    def send_task(self, name: str, args: list[int], **options: object) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.append((name, args[0]))


def test_a_finished_build_gets_notices_and_forge_reports_once() -> None:
    app = Recorder()
    announce(
        app,  # type: ignore[arg-type]
        [
            Announcement(7, BuildStatus.RUNNING),  # prepare claimed it, then it failed
            Announcement(7, BuildStatus.FAILED_PRESTART),
            Announcement(7, BuildStatus.FAILED_PRESTART),  # announced twice: sent once
            Announcement(8, BuildStatus.RUNNING),
        ],
    )
    assert app.sent == [
        ("ocelot.notify.build", 7),
        ("ocelot.forge.status", 7),
        ("ocelot.forge.comment", 7),
        ("ocelot.forge.status", 8),
        ("ocelot.forge.comment", 8),
    ]


def test_a_broker_error_is_logged_never_raised() -> None:
    announce(Recorder(fail=True), [Announcement(1, BuildStatus.PASSED)])  # type: ignore[arg-type]


def test_every_worker_connects_the_lifecycle_handlers() -> None:
    assert "worker.signals" in TASK_MODULES  # imported by Celery at worker (and beat) start


def test_one_retry_policy_backs_off_exponentially_with_jitter_and_a_cap() -> None:
    for retries, base in [(0, 1), (1, 2), (4, 16), (20, 300)]:
        delays = [POLICY.delay(retries) for _ in range(50)]
        assert all(0.75 * base <= d <= 1.25 * base for d in delays), (retries, delays)
    assert len({round(POLICY.delay(3), 6) for _ in range(20)}) > 1  # jittered
    assert RetryPolicy().next_delay(5, max_retries=5) is None
    assert RetryPolicy().next_delay(4, max_retries=5) is not None
    assert RetryPolicy().next_delay(99, max_retries=None) is not None
