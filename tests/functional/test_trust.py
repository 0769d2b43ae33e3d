"""The trust boundary against a real database: which webhook builds are untrusted, the
approval states, per-repo policies, credential scopes and what an untrusted build is given."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import Build
from ocelot.runner.secrets import load_build_secrets
from ocelot.services.credentials import add_credential
from ocelot.services.hooks import set_webhook_secret
from ocelot.services.notifications import notify_config
from ocelot.services.repos import add_repo
from ocelot.settings import Settings
from tests.fakes.pull_requests import pull_request
from tests.fakes.webhooks import signed_headers
from tests.functional.notify_support import yml

SECRET = "webhook-secret-0123456789abcdef"
KEY = Fernet.generate_key().decode()
FORGES = ("github", "gitlab", "bitbucket")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(secret_key=KEY)


def track(engine: Engine, settings: Settings, name: str, vcs_type: str = "github") -> None:
    with session_scope(engine) as session:
        add_repo(session, name, f"https://example.invalid/{name}.git", vcs_type)
        set_webhook_secret(session, settings, name, SECRET)


def deliver_pr(client: FlaskClient, forge: str, repo: str, fork: str | None, **kw: Any) -> Any:
    fixture, data = pull_request(forge, repo, fork=fork, sha="ab" * 20, **kw)
    headers = {**signed_headers(fixture, SECRET, data), "Content-Type": "application/json"}
    return client.post(f"/hooks/{forge}", data=data, headers=headers)


def build_row(engine: Engine, build_id: int) -> Build:
    with session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        session.expunge(build)
        return build


@pytest.mark.parametrize("forge", FORGES)
def test_a_pull_request_from_a_fork_waits_for_approval_and_is_not_enqueued(
    client: FlaskClient, engine: Engine, settings: Settings, forge: str
) -> None:
    track(engine, settings, "acme/app", forge)
    resp = deliver_pr(client, forge, "acme/app", fork="evil/app")
    assert resp.status_code == 202, resp.get_json()
    data = resp.get_json()
    assert data["held_for_approval"] == [data["build_id"]]
    assert "waiting for approval" in data["reason"]
    build = build_row(engine, data["build_id"])
    assert build.status == "PENDING_APPROVAL"
    assert build.trusted is False
    assert "evil/app" in (build.trust_reason or "")
    assert f"ocelot approve {build.id}" in (build.pending_reason or "")


@pytest.mark.parametrize("forge", FORGES)
def test_a_pull_request_from_the_same_repository_is_trusted_and_queued(
    client: FlaskClient, engine: Engine, settings: Settings, forge: str
) -> None:
    track(engine, settings, "acme/app", forge)
    resp = deliver_pr(client, forge, "acme/app", fork=None)
    assert resp.status_code == 202, resp.get_json()
    assert "held_for_approval" not in resp.get_json()
    build = build_row(engine, resp.get_json()["build_id"])
    assert (build.status, build.trusted, build.trust_reason) == ("QUEUED", True, None)


def test_repo_policies_run_ignore_and_all_pull_requests_untrusted(
    client: FlaskClient, engine: Engine, settings: Settings, auth: dict[str, str]
) -> None:
    track(engine, settings, "acme/app")
    path = "/api/v1/repos/acme/app"
    assert client.get(path, headers=auth).get_json()["fork_prs"] == "approve"

    resp = client.patch(path, headers=auth, json={"fork_prs": "run"})
    assert resp.status_code == 200 and resp.get_json()["fork_prs"] == "run"
    run = deliver_pr(client, "github", "acme/app", fork="evil/app", number=1).get_json()
    assert "held_for_approval" not in run
    build = build_row(engine, run["build_id"])
    assert (build.status, build.trusted) == ("QUEUED", False)  # runs, still untrusted

    client.patch(path, headers=auth, json={"fork_prs": "ignore"})
    ignored = deliver_pr(client, "github", "acme/app", fork="evil/app", number=2)
    assert ignored.status_code == 200
    assert ignored.get_json()["status"] == "skipped"
    assert "fork_prs=ignore" in ignored.get_json()["reason"]

    client.patch(path, headers=auth, json={"fork_prs": "approve", "untrusted_prs": "all"})
    same = deliver_pr(client, "github", "acme/app", fork=None, number=3).get_json()
    build = build_row(engine, same["build_id"])
    assert (build.status, build.trusted) == ("PENDING_APPROVAL", False)
    assert "untrusted_prs=all" in (build.trust_reason or "")

    bad = client.patch(path, headers=auth, json={"fork_prs": "always"})
    assert bad.status_code == 400 and "approve, run, ignore" in bad.get_json()["error"]["message"]
    unknown = client.patch(path, headers=auth, json={"trusted": True})
    assert unknown.status_code == 400


def test_approve_queues_decline_ends_and_neither_works_twice(
    client: FlaskClient, engine: Engine, settings: Settings, auth: dict[str, str]
) -> None:
    track(engine, settings, "acme/app")
    first = deliver_pr(client, "github", "acme/app", fork="evil/app", number=1).get_json()
    second = deliver_pr(client, "github", "acme/app", fork="evil/app", number=2).get_json()

    ok = client.post(f"/api/v1/builds/{first['build_id']}/approve", headers=auth)
    assert ok.status_code == 200, ok.get_json()
    approved = ok.get_json()
    assert approved["status"] == "QUEUED" and approved["approved_by"] == "tester"
    assert approved["trusted"] is False  # approval lets it run, never trusts it
    again = client.post(f"/api/v1/builds/{first['build_id']}/approve", headers=auth)
    assert again.status_code == 409

    no = client.post(f"/api/v1/builds/{second['build_id']}/decline", headers=auth)
    assert no.status_code == 200
    declined = no.get_json()
    assert declined["status"] == "DECLINED" and declined["finished_at"]
    assert declined["failure_reason"].startswith("declined by tester: pull request #2")
    assert (
        client.post(f"/api/v1/builds/{second['build_id']}/approve", headers=auth).status_code == 409
    )


def test_a_held_build_can_be_killed_and_a_rebuild_stays_untrusted(
    client: FlaskClient, engine: Engine, settings: Settings, auth: dict[str, str]
) -> None:
    track(engine, settings, "acme/app")
    held = deliver_pr(client, "github", "acme/app", fork="evil/app", number=1).get_json()
    killed = client.post(f"/api/v1/builds/{held['build_id']}/kill", headers=auth).get_json()
    assert killed["status"] == "KILLED"

    again = client.post(f"/api/v1/builds/{held['build_id']}/rebuild", headers=auth)
    assert again.status_code == 201
    rebuilt = again.get_json()
    assert rebuilt["trusted"] is False and rebuilt["status"] == "QUEUED"
    assert rebuilt["approved_by"] == "tester" and "evil/app" in rebuilt["trust_reason"]


def test_credential_scopes_are_validated_and_listed(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    body = {"acct": "acme", "identifier": "DEPLOY", "value": "deploy-secret-1"}
    resp = client.post(
        "/api/v1/creds/env",
        headers=auth,
        json={**body, "events": ["push", "tag"], "branches": ["master", "release/*"]},
    )
    assert resp.status_code == 201, resp.get_json()
    shown = resp.get_json()
    assert shown["events"] == ["push", "tag"] and shown["branches"] == ["master", "release/*"]
    listed = client.get("/api/v1/creds/env?acct=acme", headers=auth).get_json()["credentials"]
    assert listed[0]["events"] == ["push", "tag"]

    bad = client.post(
        "/api/v1/creds/env", headers=auth, json={**body, "identifier": "X1", "events": ["merge"]}
    )
    assert bad.status_code == 400 and "unknown event(s) merge" in bad.get_json()["error"]["message"]
    notify = client.post(
        "/api/v1/creds/notify",
        headers=auth,
        json={"acct": "acme", "identifier": "n", "webhook_url": "http://x/y", "events": ["push"]},
    )
    assert (
        notify.status_code == 400 and "used by the server" in notify.get_json()["error"]["message"]
    )


def _build(engine: Engine, **fields: Any) -> int:
    with session_scope(engine) as session:
        from ocelot.services.repos import get_repo

        repo = get_repo(session, "acme/app")
        build = Build(repo_id=repo.id, repo=repo, status="RUNNING", **fields)
        session.add(build)
        session.flush()
        return build.id


def test_what_a_build_is_given_depends_on_trust_event_and_branch(
    engine: Engine, settings: Settings
) -> None:
    track(engine, settings, "acme/app")
    with session_scope(engine) as session:
        add_credential(session, settings, "acme", "env", "EVERYWHERE", {"value": "value-every"})
        add_credential(
            session,
            settings,
            "acme",
            "env",
            "DEPLOY",
            {"value": "value-deploy"},
            events=["push", "tag"],
            branches=["master", "v*"],
        )
    cases = {
        "push to master": (dict(trigger="push", branch="master"), {"EVERYWHERE", "DEPLOY"}),
        "push to dev": (dict(trigger="push", branch="dev"), {"EVERYWHERE"}),
        "cli on master": (dict(trigger="cli", branch="master"), {"EVERYWHERE"}),
        "tag v1.0": (dict(trigger="tag", tag="v1.0"), {"EVERYWHERE", "DEPLOY"}),
        "same-repo PR into master from feature": (
            dict(trigger="pull_request", branch="master", pr_id="3",
                 changeset={"source_branch": "feature"}),
            {"EVERYWHERE"},
        ),
        "fork PR": (
            dict(trigger="pull_request", branch="master", pr_id="4", trusted=False,
                 trust_reason="fork", changeset={"source_branch": "master"}),
            set(),
        ),
    }  # fmt: skip
    for name, (fields, expected) in cases.items():
        build_id = _build(engine, **fields)
        with session_scope(engine) as session:
            build = session.get(Build, build_id)
            assert build is not None
            found = load_build_secrets(session, settings, build)
            assert set(found.env) == expected, name
            # every build, trusted or not, masks every secret of the account
            assert {"value-every", "value-deploy"} <= set(found.values), name


def test_an_untrusted_build_obeys_the_destination_branchs_notify_block_only(
    engine: Engine, settings: Settings
) -> None:
    track(engine, settings, "acme/app")
    evil = yml("email:\n  to: [a@evil.example]\n  on: [PASS]")
    base = yml("email:\n  to: [team@acme.example]\n  on: [PASS]")
    trusted_id = _build(engine, trigger="push", branch="master", config_text=evil)
    untrusted_id = _build(
        engine, trigger="pull_request", trusted=False, config_text=evil, trusted_config_text=base
    )
    nobody_id = _build(engine, trigger="pull_request", trusted=False, config_text=evil)
    with session_scope(engine) as session:
        rows = {b.id: b for b in session.scalars(select(Build)).unique()}
        assert notify_config(rows[trusted_id])["email"]["to"] == ["a@evil.example"]
        assert notify_config(rows[untrusted_id])["email"]["to"] == ["team@acme.example"]
        assert notify_config(rows[nobody_id]) == {}


def test_a_local_executor_worker_refuses_an_untrusted_build_even_if_routed_to_it(
    engine: Engine, settings: Settings
) -> None:
    """The second fence: route never sends an untrusted build to a tagged host, and even if a
    message reached a worker without Docker, prepare ends the build before anything runs."""
    from ocelot.runner import RunContext
    from ocelot.runner.prepare import UNTRUSTED_ON_HOST, prepare

    track(engine, settings, "acme/app")
    config = yml("email:\n  to: [team@acme.example]\n  on: [PASS]")
    build_id = _build(
        engine, trigger="pull_request", trusted=False, hash="ab" * 20, config_text=config
    )
    with session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        build.status = "QUEUED"
    ctx = RunContext(settings.with_(worker_executor="local", worker_name="host-1"), engine)
    assert prepare(ctx, build_id) is None
    build = build_row(engine, build_id)
    assert build.status == "FAILED_PRESTART"
    assert build.failure_reason == UNTRUSTED_ON_HOST
    assert not (settings.workspaces).exists() or not any(settings.workspaces.iterdir())


def test_an_image_from_a_registry_whose_login_is_withheld_is_refused(
    engine: Engine, settings: Settings
) -> None:
    """The daemon may hold a private image another build pulled with the account's login: a
    build that may not have that login must not run it either."""
    from ocelot.errors import ExecutorError
    from ocelot.pipeline import load_config
    from ocelot.runner.secrets import check_images

    track(engine, settings, "acme/app")
    with session_scope(engine) as session:
        add_credential(
            session,
            settings,
            "acme",
            "repo",
            "private",
            {"repo_type": "docker", "url": "reg.acme.example:5000", "username": "ci",
             "password": "registry-pass-1"},
            branches=["master"],
        )  # fmt: skip
    private = load_config(
        "image: reg.acme.example:5000/team/app:1\nbuildTool: shell\nbranches: [ALL]\n"
        "stages:\n  - name: a\n    script: [true]\n"
    )
    public = load_config(
        "image: ocelot/busybox\nbuildTool: shell\nbranches: [ALL]\nstages:\n"
        "  - name: a\n    image: reg.acme.example:5000/tools:2\n    script: [true]\n"
    )
    fork = _build(engine, trigger="pull_request", trusted=False, pr_id="5", branch="master")
    feature = _build(engine, trigger="push", branch="feature")
    master = _build(engine, trigger="push", branch="master")
    with session_scope(engine) as session:
        for build_id in (fork, feature):
            found = load_build_secrets(session, settings, session.get(Build, build_id))
            for config in (private, public):  # the build's image, and a stage's own image
                with pytest.raises(ExecutorError, match="whose login this build may not use"):
                    check_images(found, config)
        found = load_build_secrets(session, settings, session.get(Build, master))
        check_images(found, private)
        check_images(found, public)
