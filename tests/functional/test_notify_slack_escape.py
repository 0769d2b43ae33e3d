"""What reaches Slack (a loopback stand-in) for a build whose commit message, branch and log
try to ping the channel or hide a link: escaped text, no unfurling, Ocelot's link intact."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import Build
from ocelot.services.notifications import deliver
from ocelot.settings import Settings
from tests.fakes.slack import FakeSlack
from tests.functional.notify_support import finished_build
from tests.functional.test_notify_slack import SLACK, credentials


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack()
    yield server
    server.close()


def test_a_hostile_commit_reaches_slack_as_text(
    engine: Engine, settings: Settings, slack: FakeSlack
) -> None:
    build_id = finished_build(
        engine,
        "FAILED",
        SLACK,
        branch="<!here>",
        log="compiling\n<!channel> <http://evil.example|log in again>\n",
    )
    with session_scope(engine) as session:
        session.execute(
            update(Build)
            .where(Build.id == build_id)
            .values(message="fix <!channel> & <http://evil.example|release notes>")
        )
    s = settings.with_(public_url="https://ci.example.com")
    lookup = credentials(webhook_url=slack.webhook_url)
    assert deliver(engine, s, build_id, "slack", lookup=lookup).outcome == "sent"
    [req] = slack.delivered()
    payload = req.payload
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    blob = json.dumps(payload, ensure_ascii=False)
    assert "<!" not in blob and "<http://evil" not in blob
    assert "fix &lt;!channel&gt; &amp; &lt;http://evil.example|release notes&gt;" in blob
    assert "Branch: &lt;!here&gt;" in blob
    assert "&lt;!channel&gt; &lt;http://evil.example|log in again&gt;" in blob
    links = re.findall(r"<(https?://[^|>]*)\|", blob)
    assert links == [f"https://ci.example.com/builds/{build_id}"]
