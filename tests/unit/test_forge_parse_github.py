"""Every GitHub fixture parses into the right event or ignore reason; signatures verify."""

from __future__ import annotations

import json

from ocelot.forges import Event, Ignored
from ocelot.forges.base import sign
from ocelot.forges.github import GitHub
from tests.fakes.webhooks import EVENTS, body, event_headers, signed_headers

GH = GitHub()


def parse(name: str) -> Event | Ignored:
    """The one event of a fixture (GitHub sends one per delivery: a one-element list)."""
    return one(GH.parse(event_headers(name), json.loads(body(name))))


def one(found: list[Event] | Ignored) -> Event | Ignored:
    if isinstance(found, Ignored):
        return found
    assert isinstance(found, list) and len(found) == 1, found
    return found[0]


def test_signature_matches_the_documented_test_vector() -> None:
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign("It's a Secret to Everybody", b"Hello, World!") == expected
    headers = {"X-Hub-Signature-256": expected}
    assert GH.verify(headers, b"Hello, World!", "It's a Secret to Everybody")
    assert not GH.verify(headers, b"Hello, World?", "It's a Secret to Everybody")
    assert not GH.verify(headers, b"Hello, World!", "another secret")
    assert not GH.verify({}, b"Hello, World!", "It's a Secret to Everybody")


def test_legacy_sha1_header_alone_is_not_enough() -> None:
    headers = {"X-Hub-Signature": "sha1=0000"}
    assert not GH.verify(headers, body("github/push.json"), "s3cret-s3cret-s3cret")


def test_signed_fixture_verifies_over_its_exact_bytes() -> None:
    for name in (n for n in EVENTS if n.startswith("github/")):
        headers = signed_headers(name, "s3cret-s3cret-s3cret")
        assert GH.verify(headers, body(name), "s3cret-s3cret-s3cret"), name
        assert not GH.verify(headers, body(name) + b" ", "s3cret-s3cret-s3cret"), name


def test_branch_push() -> None:
    event = parse("github/push.json")
    assert isinstance(event, Event)
    assert (event.kind, event.repo, event.branch) == ("push", "binkkatal/sample_app", "master")
    assert event.sha == "fd489864e7642b48eaad6e3f155c10e46810ec72"
    assert event.before == "737d38c599c1b2991664dfc6155d6bf516fcce36"
    assert event.messages == ("test a push event",)
    assert set(event.files) == {".razorops.yaml", "app/controllers/application_controller.rb"}
    assert event.actor == "binkkatal" and not event.truncated
    assert event.changeset()["before"] == event.before


def test_tag_push_builds_the_tag() -> None:
    event = parse("github/push-tag.json")
    assert isinstance(event, Event)
    assert (event.kind, event.tag) == ("tag", "v0.0.1")
    assert event.sha == "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd"
    assert "before" not in event.changeset()  # 000…0 is no commit


def test_create_event_is_ignored_because_the_push_builds_the_tag() -> None:
    ignored = parse("github/create-tag.json")
    assert isinstance(ignored, Ignored) and "create" in ignored.reason


def test_pull_request_opened_and_synchronize_build_the_head_for_the_base_branch() -> None:
    for name in ("github/pull_request-opened.json", "github/pull_request-synchronize.json"):
        event = parse(name)
        assert isinstance(event, Event), name
        assert event.kind == "pull_request" and event.pr_id == "2"
        assert event.sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
        assert (event.branch, event.source_branch) == ("master", "changes")
        assert event.truncated  # the changeset comes from the mirror
        assert event.actor == "Codertocat"
    sync = parse("github/pull_request-synchronize.json")
    assert isinstance(sync, Event) and sync.before and sync.before.startswith("f95f852b")


def test_closed_pull_request_and_ping_are_ignored_with_reasons() -> None:
    closed = parse("github/pull_request-closed.json")
    assert isinstance(closed, Ignored) and closed.reason == "pull request #2 closed: not built"
    ping = parse("github/ping.json")
    assert isinstance(ping, Ignored) and ping.reason.startswith("ping")


def test_branch_deletion_is_ignored() -> None:
    payload = json.loads(body("github/push.json"))
    payload.update(deleted=True, after="0" * 40)
    ignored = GH.parse({"X-GitHub-Event": "push"}, payload)
    assert isinstance(ignored, Ignored) and "deleted" in ignored.reason


def test_unknown_event_is_ignored() -> None:
    ignored = GH.parse({"X-GitHub-Event": "issues"}, {"repository": {"full_name": "a/b"}})
    assert isinstance(ignored, Ignored) and "issues" in ignored.reason
