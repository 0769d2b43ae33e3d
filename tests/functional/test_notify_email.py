"""Email notifications received by a real SMTP server (aiosmtpd on a loopback port)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from ocelot.notifiers.base import TransientNotifierError
from ocelot.services.notifications import deliver
from ocelot.settings import Settings
from tests.fakes.smtp import FakeSMTP
from tests.functional.notify_support import finished_build, status_of
from tests.servers import free_port

EMAIL_ON_FAIL = """
email:
  to: [dev@example.com, "ops@example.com"]
  on: [FAIL]
"""
LOG = "".join(f"step {i}\n" for i in range(1, 41)) + "FAIL: test_login (exit 2)\n"


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    server = FakeSMTP()
    yield server
    server.close()


def _with_smtp(settings: Settings, port: int, **extra: object) -> Settings:
    return settings.with_(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="ci@example.com",
        public_url="https://ci.example.com",
        **extra,
    )


def test_a_failed_build_mails_what_failed_and_how_to_see_more(
    engine: Engine, settings: Settings, smtp: FakeSMTP, client: FlaskClient, auth: dict[str, str]
) -> None:
    build_id = finished_build(engine, "FAILED", EMAIL_ON_FAIL, log=LOG)
    result = deliver(engine, _with_smtp(settings, smtp.port), build_id, "email")
    assert result.outcome == "sent", result

    assert len(smtp.messages) == 1
    got = smtp.messages[0]
    assert got.mail_from == "ci@example.com"
    assert got.rcpt_tos == ["dev@example.com", "ops@example.com"]
    mail = got.message
    assert mail["Subject"] == f"[ocelot] acme/app master FAILED (0123456) - build #{build_id}"
    body = mail.get_content()
    for expected in (
        "Repository: acme/app",
        "Branch: master",
        "Triggered: push by alice",
        "build: PASSED",
        "test: FAILED",
        "Last lines of test:",
        "FAIL: test_login (exit 2)",
        f"https://ci.example.com/builds/{build_id}",
        f"ocelot logs --build-id {build_id}",
    ):
        assert expected in body, expected
    assert "step 10\n" not in body  # only the tail of the log

    data = client.get(f"/api/v1/builds/{build_id}", headers=auth).get_json()
    assert data["status"] == "FAILED"
    [attempt] = data["notifications"]
    assert attempt["channel"] == "email" and attempt["outcome"] == "sent"
    assert attempt["target"] == "dev@example.com, ops@example.com"


def test_a_second_delivery_never_mails_twice(
    engine: Engine, settings: Settings, smtp: FakeSMTP
) -> None:
    build_id = finished_build(engine, "FAILED", EMAIL_ON_FAIL)
    s = _with_smtp(settings, smtp.port)
    assert deliver(engine, s, build_id, "email").outcome == "sent"
    again = deliver(engine, s, build_id, "email")
    assert again.outcome == "skipped: already delivered"
    assert len(smtp.messages) == 1


def test_smtp_login_with_the_server_credentials(engine: Engine, settings: Settings) -> None:
    server = FakeSMTP(user="ocelot", password="s3cret-pass")
    try:
        build_id = finished_build(engine, "FAILED", EMAIL_ON_FAIL)
        ok = _with_smtp(settings, server.port, smtp_user="ocelot", smtp_password="s3cret-pass")
        assert deliver(engine, ok, build_id, "email").outcome == "sent"
        assert len(server.messages) == 1 and server.logins == ["ocelot"]

        other = finished_build(engine, "FAILED", EMAIL_ON_FAIL)
        bad = _with_smtp(settings, server.port, smtp_user="ocelot", smtp_password="wrong-pass")
        refused = deliver(engine, bad, other, "email")
        assert refused.outcome == "failed"
        assert "login refused" in (refused.error or "") and "wrong-pass" not in str(refused)
        assert len(server.messages) == 1
    finally:
        server.close()


def test_an_unreachable_smtp_server_is_retried_then_failed_and_the_build_stands(
    engine: Engine, settings: Settings
) -> None:
    build_id = finished_build(engine, "FAILED", EMAIL_ON_FAIL)
    s = _with_smtp(settings, free_port())  # nothing listens there
    with pytest.raises(TransientNotifierError, match="unreachable"):
        deliver(engine, s, build_id, "email", final=False)
    last = deliver(engine, s, build_id, "email", final=True)
    assert (last.outcome, last.attempt) == ("failed", 2)
    assert status_of(engine, build_id) == "FAILED"


def test_email_without_an_smtp_host_fails_once_with_a_clear_reason(
    engine: Engine, settings: Settings
) -> None:
    build_id = finished_build(engine, "FAILED", EMAIL_ON_FAIL)
    result = deliver(engine, settings, build_id, "email")
    assert result.outcome == "failed" and "OCELOT_SMTP_HOST" in (result.error or "")
    assert deliver(engine, settings, build_id, "email").outcome == "skipped: already delivered"


def test_a_passing_build_is_not_mailed_when_only_failures_are_wanted(
    engine: Engine, settings: Settings, smtp: FakeSMTP
) -> None:
    build_id = finished_build(engine, "PASSED", EMAIL_ON_FAIL)
    result = deliver(engine, _with_smtp(settings, smtp.port), build_id, "email")
    assert result.outcome == "skipped: not due" and smtp.messages == []
