"""``GET /metrics`` of the web app against a real database (SQLite and PostgreSQL) and a real
Redis: the Prometheus text format, builds by status and trigger, the workers registry, queue
depths, webhook deliveries after real signed deliveries, notices through a loopback Slack,
the build/stage/queue-wait histograms after a build driven through the runner's real steps,
the optional bearer token, and a scrape whose SQL does not grow with the number of builds.

The recorded metrics live in this test process (single-process mode), so counters are read
as differences before and after what a test does.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot import queues
from ocelot.db import session_scope
from ocelot.lifecycle import move
from ocelot.metrics_setup import MetricsConfig
from ocelot.models import Build, Repo, utcnow
from ocelot.services import workers
from ocelot.services.hooks import set_webhook_secret
from ocelot.services.notifications import deliver
from ocelot.services.repos import add_repo
from ocelot.settings import Settings, load_settings
from ocelot.status import BuildStatus
from tests.fakes.slack import FakeSlack
from tests.fakes.webhooks import body, signed_headers
from tests.functional.notify_support import finished_build
from tests.functional.runner_support import Runner, ocelot_yml, stage
from tests.sqlcount import counted
from web import create_app
from web.extensions import services

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]

SECRET = "webhook-secret-0123456789abcdef"
KEY = Fernet.generate_key().decode()
KEYED = load_settings({"OCELOT_HOME": "/nonexistent", "OCELOT_SECRET_KEY": KEY})


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(secret_key=KEY)  # webhook secrets live in the encrypted store


def scrape(client: FlaskClient, headers: dict[str, str] | None = None) -> Samples:
    """Every sample of one scrape: sample name → labels → value (parsed by prometheus_client)."""
    resp = client.get("/metrics", headers=headers or {})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.content_type.startswith("text/plain; version="), resp.content_type
    found: Samples = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when absent (a labelled counter not yet incremented)."""
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def by(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for k, v in samples.get(name, {}).items()}


def make_builds(engine: Engine, rows: list[tuple[str, str]], **fields: Any) -> list[int]:
    """Build rows of acme/demo with (status, trigger), written straight into the database."""
    with session_scope(engine) as session:
        repo = session.scalar(select(Repo).where(Repo.full_name == "acme/demo"))
        if repo is None:
            repo = add_repo(session, "acme/demo", "/nowhere")
        builds = [
            Build(repo_id=repo.id, status=status, trigger=trigger, **fields)
            for status, trigger in rows
        ]
        session.add_all(builds)
        session.flush()
        return [b.id for b in builds]


def test_metrics_answer_in_the_prometheus_text_format_to_anyone(client: FlaskClient) -> None:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    families = {f.name: f.type for f in text_string_to_metric_families(resp.get_data(as_text=True))}
    assert families["ocelot_builds"] == "gauge"
    assert families["ocelot_queue_messages"] == "gauge"
    assert families["ocelot_workers"] == "gauge"
    assert families["ocelot_build_queue_wait_seconds"] == "histogram"
    assert families["ocelot_webhook_deliveries"] == "counter"  # exposed as ..._total
    assert all(name.startswith("ocelot_") for name in families if "ocelot" in name)
    samples = scrape(client)
    assert by(samples, "ocelot_scrape_collector_success", "collector") == {
        "database": 1.0,
        "redis": 1.0,
    }


def test_openmetrics_is_served_to_a_scraper_that_asks_for_it(client: FlaskClient) -> None:
    resp = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert resp.status_code == 200
    assert resp.content_type.startswith("application/openmetrics-text")
    assert resp.get_data(as_text=True).rstrip().endswith("# EOF")


def test_builds_are_counted_by_status_and_trigger(client: FlaskClient, engine: Engine) -> None:
    make_builds(
        engine,
        [("PASSED", "push")] * 3
        + [("FAILED", "push"), ("FAILED", "cli")]
        + [("QUEUED", "api")] * 2
        + [("RUNNING", "pull_request")],
    )
    samples = scrape(client)
    assert value(samples, "ocelot_builds", status="PASSED", trigger="push") == 3
    assert value(samples, "ocelot_builds", status="FAILED", trigger="push") == 1
    assert value(samples, "ocelot_builds", status="FAILED", trigger="cli") == 1
    assert value(samples, "ocelot_builds", status="QUEUED", trigger="api") == 2
    assert value(samples, "ocelot_builds", status="RUNNING", trigger="pull_request") == 1
    # every status and trigger has a series, 0 when no build has it
    assert ("status", "KILLED") in dict.fromkeys(
        pair for labels in samples["ocelot_builds"] for pair in labels
    )
    assert value(samples, "ocelot_builds", status="KILLED", trigger="tag") == 0
    assert sum(samples["ocelot_builds"].values()) == 8


def test_workers_alive_and_their_capacity_in_use_come_from_the_registry(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    def start(name: str, capacity: int, tags: tuple[str, ...] = (), **kw: Any) -> None:
        s = settings.with_(worker_name=name, max_builds=capacity, worker_tags=tags)
        with session_scope(engine) as session:
            workers.register(session, s, name * 4, **kw)

    start("w1", 3, ("mac",))
    start("w2", 2)
    start("w3", 4, now=utcnow() - timedelta(hours=1))  # silent for an hour: lost
    start("w4", 1)
    with session_scope(engine) as session:
        workers.stopped(session, "w4", "w4" * 4)
    make_builds(engine, [("RUNNING", "push")] * 2, worker="w1")
    make_builds(engine, [("RUNNING", "push")], worker="w3")  # lost: not capacity in use

    samples = scrape(client)
    assert by(samples, "ocelot_workers", "state") == {"alive": 2, "lost": 1, "stopped": 1}
    assert by(samples, "ocelot_worker_capacity", "worker") == {"w1": 3, "w2": 2}
    assert by(samples, "ocelot_worker_builds_running", "worker") == {"w1": 2, "w2": 0}
    depth = by(samples, "ocelot_queue_messages", "queue")
    for queue in ("control", "builds", "notify", "forge", "builds.mac"):
        assert queue in depth
    for name in ("w1", "w2", "w3", "w4"):  # a worker's own queue, whatever its state
        assert queues.worker_queue(name) in depth


def test_queue_depth_is_the_length_of_each_celery_queue(
    app: Flask, client: FlaskClient, engine: Engine
) -> None:
    tag = f"gpu-{uuid.uuid4().hex[:8]}"  # Redis is shared by the session's tests: a new queue
    before = by(scrape(client), "ocelot_queue_messages", "queue")
    with app.app_context():  # services() is the app's
        ids = make_builds(engine, [("QUEUED", "api")] * 3)
        for build_id in ids:
            services().enqueue(build_id)  # a real Celery message on `control`
        make_builds(engine, [("QUEUED", "api")], machine_tag=tag)
        queues.send_prepare(services().celery(), ids[0], queues.builds_queue(tag))
    after = by(scrape(client), "ocelot_queue_messages", "queue")
    assert after["control"] - before.get("control", 0) == 3
    # no worker serves that tag, but a queued build waits for it: its queue is shown
    assert after[f"builds.{tag}"] == 1


def test_webhook_deliveries_are_counted_by_forge_and_verdict(
    client: FlaskClient, engine: Engine
) -> None:
    with session_scope(engine) as session:
        for name in ("binkkatal/sample_app", "Octocoders/Hello-World"):  # push, ping
            add_repo(session, name, f"https://example.invalid/{name}.git", "github")
            set_webhook_secret(session, KEYED, name, SECRET)
    before = scrape(client)
    data = body("github/push.json")
    good = signed_headers("github/push.json", SECRET)
    forged = {**signed_headers("github/push.json", SECRET), "X-Hub-Signature-256": "sha256=00"}
    ping = signed_headers("github/ping.json", SECRET)
    for headers, payload, status in (
        (good, data, 202),
        (good, data, 200),  # the same delivery id again: duplicate
        (forged, data, 401),
        (ping, body("github/ping.json"), 200),
    ):
        resp = client.post(
            "/hooks/github",
            data=payload,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert resp.status_code == status, resp.get_json()
    after = scrape(client)

    def delta(verdict: str) -> float:
        name = "ocelot_webhook_deliveries_total"
        return value(after, name, forge="github", verdict=verdict) - value(
            before, name, forge="github", verdict=verdict
        )

    assert [delta(v) for v in ("accepted", "duplicate", "rejected", "ignored")] == [1, 1, 1, 1]
    assert delta("skipped") == 0


def test_notification_attempts_are_counted_by_channel_and_outcome(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    slack = FakeSlack()
    try:
        s = settings.with_(slack_webhook_url=slack.webhook_url)
        before = scrape(client)
        slack.fail_next(1)
        build_id = finished_build(engine, "FAILED", "slack:\n  on: [FAIL]")
        with pytest.raises(Exception, match="HTTP 500"):
            deliver(engine, s, build_id, "slack", final=False)  # retrying
        assert deliver(engine, s, build_id, "slack").outcome == "sent"
        broken = finished_build(engine, "FAILED", "slack:\n  identifier: nowhere\n  on: [FAIL]")
        assert deliver(engine, s, broken, "slack").outcome == "failed"  # no such credential
        after = scrape(client)
    finally:
        slack.close()
    name = "ocelot_notification_attempts_total"
    deltas = {
        outcome: value(after, name, channel="slack", outcome=outcome)
        - value(before, name, channel="slack", outcome=outcome)
        for outcome in ("retrying", "sent", "failed")
    }
    assert deltas == {"retrying": 1, "sent": 1, "failed": 1}


def _histogram(samples: Samples, name: str, **labels: str) -> tuple[float, float]:
    """(count, sum) of one histogram series."""
    return value(samples, f"{name}_count", **labels), value(samples, f"{name}_sum", **labels)


def test_a_build_observes_queue_wait_build_and_stage_durations_and_log_bytes(
    client: FlaskClient, runner: Runner
) -> None:
    before = scrape(client)
    passed = runner.run(ocelot_yml(stage("one", "echo one"), stage("two", "echo two")))
    assert passed["status"] == "PASSED"
    failed = runner.run(ocelot_yml(stage("one", "echo fine"), stage("two", "exit 3")))
    assert failed["status"] == "FAILED"
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return _histogram(after, name, **labels)[0] - _histogram(before, name, **labels)[0]

    assert grew("ocelot_build_queue_wait_seconds") == 2
    assert grew("ocelot_build_duration_seconds", status="PASSED") == 1
    assert grew("ocelot_build_duration_seconds", status="FAILED") == 1
    assert grew("ocelot_stage_duration_seconds", status="PASSED") == 3
    assert grew("ocelot_stage_duration_seconds", status="FAILED") == 1
    count, total = _histogram(after, "ocelot_build_duration_seconds", status="PASSED")
    assert count >= 1 and total >= 0
    buckets = after["ocelot_build_duration_seconds_bucket"]
    assert buckets[(("le", "+Inf"), ("status", "PASSED"))] == count
    stored = value(after, "ocelot_log_stored_bytes_total") - value(
        before, "ocelot_log_stored_bytes_total"
    )
    log = runner.log(passed["id"]) + runner.log(failed["id"])
    assert stored >= len(log.encode()) > 0


def test_a_final_status_that_is_rolled_back_is_not_observed(
    client: FlaskClient, engine: Engine
) -> None:
    [build_id] = make_builds(
        engine, [("RUNNING", "cli")], started_at=utcnow() - timedelta(seconds=5), attempt=1
    )
    before = scrape(client)
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        move(build, BuildStatus.KILLED, "killed by test")
        session.flush()
        raise RuntimeError("the transaction fails after the move")
    assert _histogram(scrape(client), "ocelot_build_duration_seconds", status="KILLED") == (
        _histogram(before, "ocelot_build_duration_seconds", status="KILLED")
    )
    with session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        move(build, BuildStatus.KILLED, "killed by test")
    count, _ = _histogram(scrape(client), "ocelot_build_duration_seconds", status="KILLED")
    assert count == _histogram(before, "ocelot_build_duration_seconds", status="KILLED")[0] + 1


def test_a_scrape_makes_the_same_few_statements_whatever_the_number_of_builds(
    app: Flask, client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    with session_scope(engine) as session:
        workers.register(session, settings.with_(worker_name="w1"), "a" * 32)
    make_builds(engine, [("RUNNING", "push")], worker="w1")
    web_engine = app.extensions["ocelot"].engine
    scrape(client)  # the first scrape may load what SQLAlchemy caches
    with counted(web_engine) as few:
        scrape(client)
    statuses = ["PASSED", "FAILED", "QUEUED", "RUNNING", "KILLED", "SKIPPED"]
    triggers = ["push", "cli", "api", "tag", "poll"]
    make_builds(
        engine,
        [(statuses[i % 6], triggers[i % 5]) for i in range(60)],
        worker="w1",
        machine_tag=None,
    )
    make_builds(engine, [("QUEUED", "push")] * 5, machine_tag="mac")
    with counted(web_engine) as many:
        samples = scrape(client)
    assert sum(samples["ocelot_builds"].values()) == 66
    assert len(many) == len(few), (few, many)
    assert len(many) <= 4, many


def test_a_metrics_token_is_required_when_one_is_set(
    settings: Settings, auth: dict[str, str]
) -> None:
    app = create_app(settings.with_(metrics=MetricsConfig(token="scrape-me-0123456789")))
    client = app.test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert "ocelot_builds" not in refused.get_data(as_text=True)
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers=auth).status_code == 401  # an API token is not it
    scrape(client, {"Authorization": "Bearer scrape-me-0123456789"})
    # the API keeps its own rules: the metrics token opens nothing there
    api = client.get("/api/v1/builds", headers={"Authorization": "Bearer scrape-me-0123456789"})
    assert api.status_code == 401
