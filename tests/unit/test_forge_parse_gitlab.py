"""Every GitLab fixture parses into the right event; token and Standard-Webhooks signatures."""

from __future__ import annotations

import json
import time

from ocelot.forges import Event, Ignored
from ocelot.forges.gitlab import GitLab
from tests.fakes.webhooks import body, event_headers, gitlab_standard_headers, signed_headers

GL = GitLab()
SECRET = "gitlab-secret-0123456789"


def parse(name: str) -> Event | Ignored:
    """The one event of a fixture (GitLab sends one per delivery: a one-element list)."""
    return one(GL.parse(event_headers(name), json.loads(body(name))))


def one(found: list[Event] | Ignored) -> Event | Ignored:
    if isinstance(found, Ignored):
        return found
    assert isinstance(found, list) and len(found) == 1, found
    return found[0]


def test_token_is_compared_exactly() -> None:
    data = body("gitlab/push.json")
    assert GL.verify(signed_headers("gitlab/push.json", SECRET), data, SECRET)
    assert not GL.verify({"X-Gitlab-Token": SECRET + "x"}, data, SECRET)
    assert not GL.verify({"X-Gitlab-Token": ""}, data, SECRET)
    assert not GL.verify(event_headers("gitlab/push.json"), data, SECRET)


def test_standard_webhooks_signature() -> None:
    data = body("gitlab/push.json")
    headers = gitlab_standard_headers("gitlab/push.json", SECRET)
    assert GL.verify(headers, data, SECRET)
    assert not GL.verify(headers, data + b"\n", SECRET)
    assert not GL.verify(headers, data, "another-secret-0123456789")
    # A valid token does not excuse a wrong signature: every authenticator present must pass.
    assert not GL.verify({**headers, "X-Gitlab-Token": SECRET}, data + b"\n", SECRET)


def test_standard_webhooks_signature_refuses_replays() -> None:
    old = gitlab_standard_headers("gitlab/push.json", SECRET, when=time.time() - 3600)
    assert not GL.verify(old, body("gitlab/push.json"), SECRET)


def test_push_with_truncated_commit_list() -> None:
    event = parse("gitlab/push.json")
    assert isinstance(event, Event)
    assert (event.kind, event.repo, event.branch) == ("push", "mike/diaspora", "master")
    assert event.sha == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert len(event.messages) == 2 and event.messages[1] == "fixed readme"
    assert "CHANGELOG" in event.files
    assert event.truncated  # total_commits_count 4, 2 listed
    assert event.changeset()["incomplete"] is True
    assert event.actor == "jsmith"


def test_tag_push() -> None:
    event = parse("gitlab/tag_push.json")
    assert isinstance(event, Event)
    assert (event.kind, event.tag, event.repo) == ("tag", "v1.0.0", "jsmith/example")
    assert event.sha == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
    assert event.actor == "John Smith"  # no user_username in tag events


def test_merge_request_open_builds_the_last_commit_for_the_target_branch() -> None:
    event = parse("gitlab/merge_request-open.json")
    assert isinstance(event, Event)
    assert (event.kind, event.pr_id, event.branch) == ("pull_request", "1", "master")
    assert event.source_branch == "ms-viewport"
    assert event.sha == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert event.actor == "root"


def test_merge_request_update_with_oldrev_builds() -> None:
    event = parse("gitlab/merge_request-update.json")
    assert isinstance(event, Event)
    assert (event.pr_id, event.branch, event.before) == (
        "3",
        "main",
        "8b641937b7340066d882b9d8a8cc5b0573a207de",
    )
    assert event.sha == "c136499ec574e1034b24c5d306de9acda3005367"


def test_merge_request_update_without_oldrev_and_close_are_ignored() -> None:
    payload = json.loads(body("gitlab/merge_request-update.json"))
    del payload["object_attributes"]["oldrev"]
    ignored = GL.parse({}, payload)
    assert isinstance(ignored, Ignored) and "without new commits" in ignored.reason
    payload["object_attributes"]["action"] = "close"
    closed = GL.parse({}, payload)
    assert isinstance(closed, Ignored) and "close" in closed.reason


def test_branch_deletion_is_ignored() -> None:
    payload = json.loads(body("gitlab/push.json"))
    payload["after"] = "0" * 40
    ignored = GL.parse({}, payload)
    assert isinstance(ignored, Ignored) and "deleted" in ignored.reason
