"""Notifications end to end: a real build on a real Celery worker, its notices delivered by
the ``ocelot.notify.*`` tasks on the ``notify`` queue to loopback Slack and SMTP servers.

This module runs its own Stack on its own Redis, so its worker is the only one consuming
``notify`` and the server-side Slack/SMTP settings are exactly the ones under test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ocelot import queues
from tests.conftest import require
from tests.fakes.slack import WEBHOOK_PATH, FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.servers import RedisServer
from tests.stack import Stack, make_repo
from tests.waiting import eventually
from worker.factory import make_celery

YML = """\
machineTag: notifyhost
buildTool: shell
branches: [ALL]
notify:
  slack:
    channel: "#ci"
    on: [{on}]
  email:
    to: [dev@example.com]
    on: [{on}]
stages:
  - name: compile
    script: [echo compiling]
  - name: test
    script:
      - echo "running the tests"
      - {script}
"""


@dataclass
class Env:
    stack: Stack
    slack: FakeSlack
    smtp: FakeSMTP


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    import shutil

    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    redis = RedisServer(tmp_path_factory.mktemp("notify-redis"))
    slack, smtp = FakeSlack(), FakeSMTP()
    stack = Stack(tmp_path_factory.mktemp("notify-stack"), redis)
    try:
        stack.start_worker(
            "notify-local",
            executor="local",
            tags=("notifyhost",),
            extra={
                "OCELOT_SLACK_WEBHOOK_URL": slack.webhook_url,
                "OCELOT_SMTP_HOST": "127.0.0.1",
                "OCELOT_SMTP_PORT": str(smtp.port),
                "OCELOT_PUBLIC_URL": "https://ci.example.com",
            },
        )
        yield Env(stack, slack, smtp)
    finally:
        stack.close()
        redis.stop()
        slack.close()
        smtp.close()


def settled(stack: Stack, build_id: int, channels: int, timeout: float = 60) -> list[Any]:
    """The build's notification attempts once every channel reached sent or failed."""

    def final() -> list[Any] | None:
        notes = stack.get(build_id)["notifications"]
        done = {n["channel"] for n in notes if n["outcome"] in ("sent", "failed")}
        return notes if len(done) == channels else None

    def what() -> str:
        logs = "\n".join(p.log.read_text()[-3000:] for p in stack.workers)
        notes = stack.get(build_id)["notifications"]
        return f"the notifications of build {build_id} to settle: {notes}\n{logs}"

    return eventually(final, timeout, what, interval=0.2)


def test_slack_500_twice_then_200_gets_the_message_exactly_once(env: Env, tmp_path: Path) -> None:
    stack, slack = env.stack, env.slack
    make_repo(tmp_path / "repo", {"ocelot.yml": YML.format(on="FAIL", script="exit 3")})
    repo = stack.add_repo(tmp_path / "repo")
    slack.fail_next(2)
    build_id = stack.build(repo, branch="master")
    build = stack.wait(build_id)
    assert build["status"] == "FAILED", stack.logs(build_id)

    notes = settled(stack, build_id, channels=2)
    slack_attempts = [(n["attempt"], n["outcome"]) for n in notes if n["channel"] == "slack"]
    assert slack_attempts == [(1, "retrying"), (2, "retrying"), (3, "sent")]
    assert [r.status for r in slack.requests] == [500, 500, 200]
    [delivered] = slack.delivered()
    assert f"build #{build_id}" in delivered.payload["text"]
    assert "running the tests" in str(delivered.payload["blocks"])

    [mail] = env.smtp.messages
    assert mail.rcpt_tos == ["dev@example.com"]
    assert f"https://ci.example.com/builds/{build_id}" in mail.message.get_content()

    # A redelivered or duplicated message never posts again after a success.
    app = make_celery(stack.settings)
    queues.send_notify(app, build_id)
    queues.send_notify_channel(app, build_id, "slack")
    stack.workers[0].wait_for_log("skipped: already delivered", timeout=30)
    time.sleep(1)
    assert len(slack.delivered()) == 1 and len(env.smtp.messages) == 1
    assert stack.get(build_id)["status"] == "FAILED"
    assert WEBHOOK_PATH not in stack.workers[0].log.read_text()  # the secret is never logged


def test_a_failing_notifier_leaves_the_build_passed(env: Env, tmp_path: Path) -> None:
    stack, slack = env.stack, env.slack
    make_repo(tmp_path / "repo", {"ocelot.yml": YML.format(on="PASS", script="true")})
    repo = stack.add_repo(tmp_path / "repo")
    before = len(slack.requests)
    slack.fail_next(1, status=404)  # a webhook that was removed: permanent, not retried
    build_id = stack.build(repo, branch="master")
    assert stack.wait(build_id)["status"] == "PASSED"
    notes = settled(stack, build_id, channels=2)
    outcomes = {n["channel"]: n["outcome"] for n in notes}
    assert outcomes == {"slack": "failed", "email": "sent"}
    assert len(slack.requests) == before + 1
    assert stack.get(build_id)["status"] == "PASSED"
