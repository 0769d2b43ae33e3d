"""Every Bitbucket Cloud fixture parses into the right event; ``X-Hub-Signature`` (SHA-256)."""

from __future__ import annotations

import json

from ocelot.forges import Event, Ignored
from ocelot.forges.bitbucket import Bitbucket
from tests.fakes.webhooks import body, event_headers, signed_headers

BB = Bitbucket()
SECRET = "bitbucket-secret-0123456789"


def parse(name: str) -> list[Event] | Ignored:
    return BB.parse(event_headers(name), json.loads(body(name)))


def test_signature() -> None:
    data = body("bitbucket/repo-push.json")
    headers = signed_headers("bitbucket/repo-push.json", SECRET)
    assert headers["X-Hub-Signature"].startswith("sha256=")
    assert BB.verify(headers, data, SECRET)
    assert not BB.verify(headers, data[:-1], SECRET)
    assert not BB.verify(event_headers("bitbucket/repo-push.json"), data, SECRET)


def test_branch_push_current_shape_without_username() -> None:
    events = parse("bitbucket/repo-push.json")
    assert isinstance(events, list) and len(events) == 1
    event = events[0]
    assert (event.kind, event.repo, event.branch) == (
        "push",
        "martinherren1984/publictestrepo",
        "master",
    )
    assert event.sha == "c14c1bb05dfb1fdcdf06b31485fff61b0ea44277"
    assert event.before == "a51241ae1f00cbe728930db48e890b18fd527f99"
    assert event.messages == ("a\n",)
    assert event.truncated  # no files in Bitbucket payloads: completed from the mirror
    assert event.actor == "Martin Herren"


def test_tag_with_a_slash() -> None:
    events = parse("bitbucket/repo-push-tag.json")
    assert isinstance(events, list)
    assert [(e.kind, e.tag, e.sha) for e in events] == [
        ("tag", "feature/x", "141977fedf5cf35aa290ac87d4b5177ac4cd9de1")
    ]
    assert events[0].actor == "brydzewski"


def test_pull_requests_build_the_short_source_hash_for_the_destination() -> None:
    for name, sha in (
        ("bitbucket/pullrequest-created.json", "507a576e59b3"),
        ("bitbucket/pullrequest-updated.json", "0704fc5beccc"),
    ):
        events = parse(name)
        assert isinstance(events, list) and len(events) == 1, name
        event = events[0]
        assert (event.kind, event.pr_id, event.sha) == ("pull_request", "1", sha)
        assert (event.branch, event.source_branch) == ("master", "develop")


def test_deleted_branch_declined_pr_and_other_events_are_ignored() -> None:
    payload = json.loads(body("bitbucket/repo-push.json"))
    payload["push"]["changes"][0]["new"] = None
    deleted = BB.parse({"X-Event-Key": "repo:push"}, payload)
    assert isinstance(deleted, Ignored) and deleted.reason == "master deleted"
    pr = json.loads(body("bitbucket/pullrequest-created.json"))
    pr["pullrequest"]["state"] = "DECLINED"
    declined = BB.parse({"X-Event-Key": "pullrequest:rejected"}, pr)
    assert isinstance(declined, Ignored) and "declined" in declined.reason
    other = BB.parse({"X-Event-Key": "repo:fork"}, {})
    assert isinstance(other, Ignored) and "repo:fork" in other.reason
