"""What a notification says: repo, ref, hash, trigger, stages, log tail, duration, link."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ocelot.models import Build, Repo, Stage
from ocelot.notifiers.message import compose, duration, tail

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _build(status: str = "FAILED") -> Build:
    repo = Repo(id=1, acct="acme", name="app", full_name="acme/app", url="/x")
    build = Build(
        id=42,
        repo_id=1,
        repo=repo,
        hash="0123456789abcdef",
        branch="master",
        status=status,
        trigger="push",
        triggered_by="alice",
        message="make it work\n\nlong text",
        attempt=1,
        queued_at=T0,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=75),
        failure_reason="stage 'test' failed: exit code 2" if status == "FAILED" else None,
        history=[],
    )
    build.stages = [
        Stage(
            attempt=1,
            position=0,
            name="build",
            status="PASSED",
            exit_code=0,
            started_at=T0,
            finished_at=T0 + timedelta(seconds=5),
            messages=[],
        ),
        Stage(
            attempt=1,
            position=1,
            name="test",
            status=status if status == "FAILED" else "PASSED",
            exit_code=2 if status == "FAILED" else 0,
            started_at=T0 + timedelta(seconds=5),
            finished_at=T0 + timedelta(seconds=75),
            messages=[],
        ),
    ]
    return build


def test_the_message_tells_everything_a_reader_needs() -> None:
    log = "\n".join(f"line {i}" for i in range(1, 31)) + "\nTOKEN=hunter22\n"
    msg = compose(
        _build(),
        public_url="https://ci.example.com/",
        build_events=("FAIL", "CHANGED"),
        log_tail=tail(log, 5),
        failing_stage="test",
        redact=lambda line: line.replace("hunter22", "*****"),
    )
    text = msg.as_text()
    assert msg.subject == "[ocelot] acme/app master FAILED (0123456) - build #42"
    for expected in (
        "Repository: acme/app",
        "Branch: master",
        "Commit: 0123456 make it work",
        "Triggered: push by alice",
        "Status: FAILED (FAIL, CHANGED)",
        "Duration: 1m 15s",
        "build: PASSED (5.0s)",
        "test: FAILED (1m 10s, exit 2)",
        "Last lines of test:",
        "line 30",
        "TOKEN=*****",
        "Build: https://ci.example.com/builds/42",
        "ocelot logs --build-id 42",
        "Reason: stage 'test' failed: exit code 2",
    ):
        assert expected in text, expected
    assert "line 26" not in text and "hunter22" not in text


def test_the_slack_rendering_links_the_build_and_fits_slack_limits() -> None:
    msg = compose(
        _build(),
        public_url="http://ci",
        build_events=("FAIL",),
        log_tail="x" * 5000,
        failing_stage="test",
    )
    slack = msg.as_slack()
    assert slack["text"] == "acme/app master FAILED (0123456) - build #42"
    blob = json.dumps(slack)
    assert "<http://ci/builds/42|" in blob and "ocelot logs --build-id 42" in blob
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in slack["blocks"])


def test_a_fixed_build_says_fixed_and_has_no_log_tail() -> None:
    msg = compose(_build("PASSED"), public_url="http://ci", build_events=("PASS", "FIXED"))
    assert "FIXED" in msg.headline and ":tada:" in json.dumps(msg.as_slack())
    assert "Last lines" not in msg.as_text() and "Reason:" not in msg.as_text()


def test_durations_read_naturally() -> None:
    assert [duration(s) for s in (None, 0.25, 42, 65, 3725)] == [
        "-",
        "0.2s",
        "42s",
        "1m 05s",
        "1h 02m 05s",
    ]
