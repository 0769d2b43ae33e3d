"""A commit cannot speak mrkdwn to Slack: everything a build's author controls is escaped
(``&``, ``<``, ``>``), while the one link Ocelot makes keeps working."""

from __future__ import annotations

import re

from ocelot.notifiers.message import SLACK_TEXT_LIMIT, compose, slack_escape
from tests.unit.test_notify_message import _build

HOSTILE = "<!channel> see <http://evil.example|click> & <@U123>"


def hostile_build():  # type: ignore[no-untyped-def]
    build = _build()
    build.message = f"{HOSTILE}\n\nmore"
    build.branch = "<!here>"
    build.triggered_by = "<!everyone>"
    build.failure_reason = "stage '<#C1>' failed: <https://x|y>"
    build.repo.full_name = "acme/<app>"
    build.stages[1].name = "<!subteam^S1>"
    return build


def texts(payload: dict) -> list[str]:  # type: ignore[type-arg]
    found = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [e["text"] for e in block.get("elements", [])]
    return found


def test_slack_escape_follows_slacks_rule() -> None:
    assert slack_escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert slack_escape("&lt;") == "&amp;lt;"  # an entity in the input stays text too


def test_no_user_string_can_make_a_mention_or_a_link() -> None:
    msg = compose(
        hostile_build(),
        public_url="https://ci.example.com",
        log_tail="ok\n<!channel> pwned & <http://evil|here>\n",
        failing_stage="<!subteam^S1>",
    )
    payload = msg.as_slack()
    everything = "\n".join(texts(payload))
    # The only "<" left opens Ocelot's own link to the build.
    assert re.findall(r"<[^>]*>", everything) == [
        f"<https://ci.example.com/builds/42|{slack_escape(msg.headline)}>"
    ]
    for escaped in (
        "&lt;!channel&gt; see &lt;http://evil.example|click&gt; &amp; &lt;@U123&gt;",
        "Branch: &lt;!here&gt;",
        "Triggered: push by &lt;!everyone&gt;",
        "Reason: stage '&lt;#C1&gt;' failed: &lt;https://x|y&gt;",
        "Repository: acme/&lt;app&gt;",
        "&lt;!subteam^S1&gt;: FAILED",
        "Last lines of &lt;!subteam^S1&gt;",
        "&lt;!channel&gt; pwned &amp; &lt;http://evil|here&gt;",
    ):
        assert escaped in everything, escaped
    assert payload["text"] == "acme/&lt;app&gt; &lt;!here&gt; FAILED (0123456) - build #42"
    # The email keeps the plain text: there is no markup to escape there.
    assert HOSTILE in msg.as_text()


def test_escaping_never_overflows_a_block_or_splits_an_entity() -> None:
    msg = compose(
        _build(),
        public_url="http://ci",
        log_tail="<&>" * 3000,
        failing_stage="test",
    )
    blocks = msg.as_slack()["blocks"]
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    tail = blocks[3]["text"]["text"]
    body = tail.split("```")[1]
    assert body.endswith("&lt;&amp;&gt;") and len(body) <= SLACK_TEXT_LIMIT
    assert re.fullmatch(r"(&lt;|&amp;|&gt;)+", body)
    long_reason = _build()
    long_reason.failure_reason = "&" * 5000
    facts = compose(long_reason, public_url="http://ci").as_slack()["blocks"][1]["text"]["text"]
    assert len(facts) <= 3000 and facts.endswith("&amp;…")


def test_the_build_link_still_works() -> None:
    slack = compose(_build(), public_url="https://ci.example.com/ocelot/").as_slack()
    title = slack["blocks"][0]["text"]["text"]
    assert title == (
        ":x: *<https://ci.example.com/ocelot/builds/42|acme/app master FAILED (0123456) "
        "- build #42>*"
    )
