"""Slack notifications through slack-sdk against a loopback stand-in for Slack: the
incoming-webhook POST and the Web API ``chat.postMessage`` (via ``OCELOT_SLACK_API_URL``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ocelot.notifiers.base import TransientNotifierError
from ocelot.services.notifications import deliver
from ocelot.settings import Settings
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.functional.notify_support import finished_build, status_of

SLACK = """
slack:
  channel: "#builds"
  identifier: ocelot-base
  on: [PASS, FAIL]
"""


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack()
    yield server
    server.close()


def credentials(**secret: str) -> Any:
    """A stand-in for the credentials store: the notify credential ``ocelot-base`` of acme."""

    def lookup(
        session: Session, settings: Settings, acct: str, identifier: str
    ) -> Mapping[str, Any]:
        assert (acct, identifier) == ("acme", "ocelot-base")
        return secret

    return lookup


def test_the_webhook_gets_the_build_summary(
    engine: Engine,
    settings: Settings,
    slack: FakeSlack,
    client: FlaskClient,
    auth: dict[str, str],
) -> None:
    build_id = finished_build(engine, "FAILED", SLACK, log="compiling\nFAIL: TestLogin\n")
    s = settings.with_(public_url="https://ci.example.com")
    lookup = credentials(webhook_url=slack.webhook_url)
    assert deliver(engine, s, build_id, "slack", lookup=lookup).outcome == "sent"

    [req] = slack.delivered()
    payload = req.payload
    assert payload["channel"] == "#builds"
    assert payload["text"] == f"acme/app master FAILED (0123456) - build #{build_id}"
    blob = json.dumps(payload["blocks"])
    for expected in (
        f"<https://ci.example.com/builds/{build_id}|",
        "Triggered: push by alice",
        "test: FAILED",
        "FAIL: TestLogin",
        f"ocelot logs --build-id {build_id}",
    ):
        assert expected in blob, expected

    data = client.get(f"/api/v1/builds/{build_id}", headers=auth).get_json()
    [attempt] = data["notifications"]
    assert attempt["outcome"] == "sent" and attempt["target"] == "#builds via webhook ocelot-base"
    assert slack.webhook_url not in json.dumps(data)  # the secret is never shown


def test_a_bot_token_posts_with_chat_post_message_at_the_configured_api_url(
    engine: Engine, settings: Settings, slack: FakeSlack
) -> None:
    build_id = finished_build(engine, "PASSED", SLACK)
    s = settings.with_(slack_api_url=slack.api_url)
    assert deliver(engine, s, build_id, "slack", lookup=credentials(token=BOT_TOKEN)).outcome == (
        "sent"
    )
    [req] = slack.delivered()
    assert req.path == "/api/chat.postMessage"
    assert req.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert req.payload["channel"] == "#builds"
    assert "PASSED" in req.payload["text"]


def test_a_refused_token_fails_without_retry_and_without_showing_the_token(
    engine: Engine, settings: Settings, slack: FakeSlack
) -> None:
    build_id = finished_build(engine, "FAILED", SLACK)
    s = settings.with_(slack_api_url=slack.api_url)
    result = deliver(engine, s, build_id, "slack", lookup=credentials(token="xoxb-wrong-1"))
    assert result.outcome == "failed" and "invalid_auth" in (result.error or "")
    assert "xoxb-wrong-1" not in (result.error or "")


def test_the_server_default_webhook_serves_files_without_an_identifier(
    engine: Engine, settings: Settings, slack: FakeSlack
) -> None:
    build_id = finished_build(engine, "FAILED", "slack:\n  on: [FAIL]")
    s = settings.with_(slack_webhook_url=slack.webhook_url)
    assert deliver(engine, s, build_id, "slack").outcome == "sent"
    [req] = slack.delivered()
    assert "channel" not in req.payload  # the webhook's own channel


def test_slack_500_is_transient_and_the_message_arrives_once(
    engine: Engine, settings: Settings, slack: FakeSlack
) -> None:
    build_id = finished_build(engine, "FAILED", SLACK)
    lookup = credentials(webhook_url=slack.webhook_url)
    slack.fail_next(2)
    for _ in range(2):
        with pytest.raises(TransientNotifierError, match="HTTP 500"):
            deliver(engine, settings, build_id, "slack", final=False, lookup=lookup)
    done = deliver(engine, settings, build_id, "slack", final=False, lookup=lookup)
    assert (done.outcome, done.attempt) == ("sent", 3)
    again = deliver(engine, settings, build_id, "slack", lookup=lookup)
    assert again.outcome == "skipped: already delivered"
    assert [r.status for r in slack.requests] == [500, 500, 200]


def test_a_missing_credential_or_a_dead_webhook_never_touches_the_build(
    engine: Engine, settings: Settings, slack: FakeSlack
) -> None:
    build_id = finished_build(engine, "PASSED", SLACK)
    result = deliver(engine, settings, build_id, "slack")  # acme has no such credential
    assert result.outcome == "failed"
    other = finished_build(engine, "FAILED", SLACK)
    gone = credentials(webhook_url=slack.url + "/services/T000/B000/gone")
    result = deliver(engine, settings, other, "slack", lookup=gone)
    assert result.outcome == "failed" and "HTTP 404" in (result.error or "")
    assert "/services/T000/B000/gone" not in (result.error or "")
    assert (status_of(engine, build_id), status_of(engine, other)) == ("PASSED", "FAILED")


def test_the_identifier_names_a_notify_credential_of_the_credentials_store(
    engine: Engine, settings: Settings, slack: FakeSlack
) -> None:
    from cryptography.fernet import Fernet

    from ocelot.db import session_scope
    from ocelot.services.credentials import add_credential

    s = settings.with_(secret_key=Fernet.generate_key().decode(), slack_api_url=slack.api_url)
    with session_scope(engine) as session:
        add_credential(
            session, s, "acme", "notify", "ocelot-base", {"kind": "slack", "token": BOT_TOKEN}
        )
    build_id = finished_build(engine, "FAILED", SLACK, log=f"leaked {BOT_TOKEN} here\n")
    assert deliver(engine, s, build_id, "slack").outcome == "sent"
    [req] = slack.delivered()
    assert req.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    # the account's secrets are masked in the log lines the message quotes
    assert "leaked ***** here" in json.dumps(req.payload) and BOT_TOKEN not in json.dumps(
        req.payload
    )
