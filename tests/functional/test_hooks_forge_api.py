"""Forge API calls against a fake forge over real HTTP: hook install/remove, commit status
pending → success/failure, one PR comment created then edited, retries on a 500, and the
token never in an error message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.errors import ForgeError, InvalidRequest, NotFound
from ocelot.forges import Forge, get_forge
from ocelot.models import Build, RepoHook
from ocelot.services import forge_reports
from ocelot.services import watch as watch_service
from ocelot.services.builds import create_build
from ocelot.services.repos import add_repo
from ocelot.settings import Settings
from tests.fakes.forge import FakeForge
from tests.fakes.webhooks import body, signed_headers
from worker.tasks.forge import attempt


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Webhook secrets and tokens live in the encrypted secret store: the server needs a key."""
    return settings.with_(secret_key="test-secret-key")


TOKEN = "tok-s3cr3t-value-that-must-not-leak"
SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
YML = "image: busybox\nstages:\n  - name: test\n    script: [true]\n"
# Where each forge answers "what is acme/app's default branch" (master) and its ocelot.yml.
REPO_INFO = {
    "github": ("/repos/acme/app", {"default_branch": "master"}),
    "gitlab": ("/projects/acme%2Fapp", {"default_branch": "master"}),
    "bitbucket": ("/repositories/acme/app", {"mainbranch": {"name": "master"}}),
}
NO_CONFIG = "acme/app has no ocelot.yml on its default branch master: add one first"
CONFIG_AT = {
    "github": "/repos/acme/app/contents/ocelot.yml",
    "gitlab": "/projects/acme%2Fapp/repository/files/ocelot.yml",
    "bitbucket": "/repositories/acme/app/src/master/ocelot.yml",
}


@pytest.fixture
def fake() -> Iterator[FakeForge]:
    server = FakeForge()
    yield server
    server.close()


def forge(fake: FakeForge, name: str = "github") -> Forge:
    return get_forge(name, fake.url, TOKEN)


def make_build(
    engine: Engine,
    status: str,
    pr_id: str | None = "2",
    repo: str = "acme/app",
    pipeline: str = "default",
) -> int:
    with session_scope(engine) as session:
        try:
            add_repo(session, repo, "https://example.invalid/x.git", "github")
        except Exception:  # noqa: BLE001 - tracked by an earlier call of this helper
            session.rollback()
    with session_scope(engine) as session:
        build = create_build(
            session, repo, branch="master", hash=SHA, trigger="pull_request", pr_id=pr_id,
            triggered_by="octocat", pipeline=pipeline,
        )  # fmt: skip
        build.status = status
        return build.id


def set_status(engine: Engine, build_id: int, status: str) -> None:
    with session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        build.status = status


@pytest.mark.parametrize(
    ("name", "create_path", "delete_path"),
    [
        ("github", "/repos/acme/app/hooks", "/repos/acme/app/hooks/1001"),
        ("gitlab", "/projects/acme%2Fapp/hooks", "/projects/acme%2Fapp/hooks/1001"),
        ("bitbucket", "/repositories/acme/app/hooks", "/repositories/acme/app/hooks/%7B1001%7D"),
    ],
)
def test_install_and_remove_hook(
    fake: FakeForge, name: str, create_path: str, delete_path: str
) -> None:
    client = forge(fake, name)
    hook_id = client.install_hook("acme/app", "https://ci.example/hooks/" + name, "hook-secret")
    [created] = fake.calls("POST")
    assert created.path == create_path
    assert created.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "hook-secret" in str(created.body) and f"/hooks/{name}" in str(created.body)
    client.remove_hook("acme/app", hook_id)
    [deleted] = fake.calls("DELETE")
    assert deleted.path == delete_path


def test_commit_status_pending_then_success_or_failure(
    fake: FakeForge, engine: Engine, settings: Settings
) -> None:
    client = forge(fake)
    passing = make_build(engine, "RUNNING")
    with session_scope(engine) as session:
        assert forge_reports.set_status(session, settings, passing, client) == "pending"
    set_status(engine, passing, "PASSED")
    with session_scope(engine) as session:
        assert forge_reports.set_status(session, settings, passing, client) == "success"
    failing = make_build(engine, "FAILED")
    with session_scope(engine) as session:
        assert forge_reports.set_status(session, settings, failing, client) == "failure"
    posted = fake.calls("POST", f"/statuses/{SHA}")
    assert [r.body["state"] for r in posted] == ["pending", "success", "failure"]
    assert posted[0].body["context"] == "ocelot"
    assert posted[0].body["target_url"].endswith(f"/builds/{passing}")


def test_pr_comment_is_created_once_then_edited(
    fake: FakeForge, engine: Engine, settings: Settings
) -> None:
    client = forge(fake)
    first = make_build(engine, "RUNNING")
    with session_scope(engine) as session:
        comment_id = forge_reports.update_comment(session, settings, first, client)
    set_status(engine, first, "FAILED")
    with session_scope(engine) as session:
        assert forge_reports.update_comment(session, settings, first, client) == comment_id
    rerun = make_build(engine, "PASSED")  # a re-run of the same PR edits the same comment
    with session_scope(engine) as session:
        assert forge_reports.update_comment(session, settings, rerun, client) == comment_id
    created = fake.calls("POST", "/comments")
    edited = fake.calls("PATCH", f"/issues/comments/{comment_id}")
    assert len(created) == 1 and created[0].path == "/repos/acme/app/issues/2/comments"
    assert len(edited) == 2
    assert "running" in created[0].body["body"]
    assert "failed" in edited[0].body["body"] and "passed" in edited[1].body["body"]


def test_the_pr_comment_has_a_line_per_pipeline(
    fake: FakeForge, engine: Engine, settings: Settings
) -> None:
    client = forge(fake)
    app = make_build(engine, "PASSED")
    image = make_build(engine, "RUNNING", pipeline="base-image")
    with session_scope(engine) as session:
        comment_id = forge_reports.update_comment(session, settings, app, client)
    set_status(engine, image, "FAILED")
    with session_scope(engine) as session:
        assert forge_reports.update_comment(session, settings, image, client) == comment_id
    [created] = fake.calls("POST", "/comments")
    [edited] = fake.calls("PATCH", f"/issues/comments/{comment_id}")
    url = f"{settings.public_url}/builds"
    assert created.body["body"].splitlines()[2:4] == [
        f"- ⏳ pipeline **base-image**: Ocelot build {image} running ({url}/{image})",
        f"- ✅ pipeline **default**: Ocelot build {app} passed ({url}/{app})",
    ]
    assert (
        f"- ❌ pipeline **base-image**: Ocelot build {image} failed ({url}/{image})"
        in edited.body["body"]
    )
    # a build of another commit of the PR is not listed with these
    with session_scope(engine) as session:
        other = session.get(Build, image)
        assert other is not None
        other.hash = "f" * 40
    with session_scope(engine) as session:
        forge_reports.update_comment(session, settings, app, client)
    last = fake.calls("PATCH", f"/issues/comments/{comment_id}")[-1]
    assert "pipeline" not in last.body["body"] and "passed" in last.body["body"]


def test_no_comment_for_a_build_that_is_not_a_pr(
    fake: FakeForge, engine: Engine, settings: Settings
) -> None:
    build_id = make_build(engine, "PASSED", pr_id=None)
    with session_scope(engine) as session:
        assert forge_reports.update_comment(session, settings, build_id, forge(fake)) is None
    assert fake.requests == []


def test_a_500_is_retried_with_backoff_then_succeeds(
    fake: FakeForge, engine: Engine, settings: Settings
) -> None:
    build_id = make_build(engine, "PASSED")
    fake.fail_next(1, 500)
    delay = attempt("status", engine, settings, build_id, 0, forge(fake))
    assert delay is not None and 0.5 <= delay <= 1.5
    assert attempt("status", engine, settings, build_id, 1, forge(fake)) is None
    assert [r.status for r in fake.requests] == [500, 201]
    # A 4xx is not retried (it will not get better) and never raises into the worker.
    fake.fail_next(1, 422)
    assert attempt("status", engine, settings, build_id, 0, forge(fake)) is None


def test_a_failed_comment_creation_releases_its_claim(
    fake: FakeForge, engine: Engine, settings: Settings
) -> None:
    build_id = make_build(engine, "RUNNING")
    fake.fail_next(1, 503)
    assert attempt("comment", engine, settings, build_id, 0, forge(fake)) is not None
    assert attempt("comment", engine, settings, build_id, 1, forge(fake)) is None
    assert len(fake.calls("POST", "/comments")) == 1


def test_the_token_never_appears_in_errors(fake: FakeForge) -> None:
    fake.fail_next(1, 500)
    with pytest.raises(ForgeError) as info:
        forge(fake).set_status("acme/app", SHA, "pending", "http://x", "d")
    assert TOKEN not in str(info.value) and TOKEN not in str(info.value.to_dict())
    assert info.value.details["retryable"] is True


def test_fetch_file(fake: FakeForge) -> None:
    fake.files["ocelot.yml"] = "image: busybox\n"
    assert forge(fake).fetch_file("acme/app", SHA, "ocelot.yml") == "image: busybox\n"
    assert forge(fake).fetch_file("acme/app", SHA, "missing.yml") is None


def test_watch_without_install_returns_a_secret_that_then_verifies(
    client: FlaskClient, auth: dict[str, str], engine: Engine
) -> None:
    with session_scope(engine) as session:
        add_repo(session, "binkkatal/sample_app", "https://example.invalid/x.git", "github")
    resp = client.post(
        "/api/v1/repos/binkkatal/sample_app/watch", headers=auth, json={"install": False}
    )
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()
    assert data["installed"] is False and data["hook_url"].endswith("/hooks/github")
    secret = data["secret"]
    hook = client.post(
        "/hooks/github",
        data=body("github/push.json"),
        headers=signed_headers("github/push.json", secret),
    )
    assert hook.status_code == 202
    gone = client.delete("/api/v1/repos/binkkatal/sample_app/watch", headers=auth)
    assert gone.status_code == 200
    again = client.post(
        "/hooks/github",
        data=body("github/push.json"),
        headers=signed_headers("github/push.json", secret),
    )
    assert again.status_code == 401


def test_watch_installs_and_unwatch_removes_the_hook_with_the_accounts_token(
    fake: FakeForge, settings: Settings, engine: Engine
) -> None:
    from ocelot.services.credentials import add_credential
    from web import create_app

    configured = settings.with_(secret_key="test-secret-key", github_api_url=fake.url)
    with session_scope(engine) as session:
        add_repo(session, "acme/app", "https://example.invalid/x.git", "github")
        add_credential(
            session, configured, "acme", "vcs", "main", {"forge": "github", "token": TOKEN}
        )
    web = create_app(configured).test_client()
    with session_scope(engine) as session:
        from ocelot.services.tokens import create_token

        auth = {"Authorization": f"Bearer {create_token(session, 'admin')}"}
    fake.routes["/repos/acme/app"] = {"default_branch": "master"}
    fake.files["/repos/acme/app/contents/ocelot.yml"] = YML
    resp = web.post("/api/v1/repos/acme/app/watch", headers=auth, json={})
    assert resp.status_code == 200, resp.get_json()
    assert "/repos/acme/app/contents/ocelot.yml?ref=master" in [r.path for r in fake.requests]
    assert resp.get_json()["installed"] is True and "secret" not in resp.get_json()
    [created] = fake.calls("POST", "/repos/acme/app/hooks")
    assert created.headers["Authorization"] == f"Bearer {TOKEN}"
    secret = created.body["config"]["secret"]
    assert created.body["config"]["url"] == f"{settings.public_url}/hooks/github"
    hook = web.post(
        "/hooks/github",
        data=body("github/push.json").replace(b"binkkatal/sample_app", b"acme/app"),
        headers={
            **signed_headers(
                "github/push.json",
                secret,
                body("github/push.json").replace(b"binkkatal/sample_app", b"acme/app"),
            )
        },
    )
    assert hook.status_code == 202, hook.get_json()
    gone = web.delete("/api/v1/repos/acme/app/watch", headers=auth)
    assert gone.status_code == 200
    hook_id = resp.get_json()["hook_id"]
    assert [r.path for r in fake.calls("DELETE")] == [f"/repos/acme/app/hooks/{hook_id}"]
    deliveries = web.get("/api/v1/repos/acme/app/deliveries", headers=auth).get_json()
    assert TOKEN not in str(deliveries) and secret not in str(deliveries)


def test_watch_without_a_token_says_how_to_add_one(
    client: FlaskClient, auth: dict[str, str], engine: Engine
) -> None:
    with session_scope(engine) as session:
        add_repo(session, "acme/app", "https://example.invalid/x.git", "github")
    resp = client.post("/api/v1/repos/acme/app/watch", headers=auth, json={})
    assert resp.status_code == 404
    assert "ocelot creds vcs add" in resp.get_json()["error"]["message"]


@pytest.mark.parametrize("name", ["github", "gitlab", "bitbucket"])
def test_the_config_is_read_on_the_default_branch(fake: FakeForge, name: str) -> None:
    path, info = REPO_INFO[name]
    fake.routes[path] = info
    client = forge(fake, name)
    assert client.default_branch("acme/app") == "master"
    with pytest.raises(InvalidRequest) as refused:
        watch_service.require_config(client, "acme/app")
    assert refused.value.message == NO_CONFIG
    if name == "bitbucket":
        fake.routes[CONFIG_AT[name]] = YML  # Bitbucket answers the raw file
    else:
        fake.files[CONFIG_AT[name]] = YML
    assert watch_service.require_config(client, "acme/app") == "master"


def test_watch_refuses_a_repo_without_ocelot_yml_and_installs_nothing(
    fake: FakeForge, settings: Settings, engine: Engine
) -> None:
    from ocelot.services.credentials import add_credential

    configured = settings.with_(github_api_url=fake.url)
    with session_scope(engine) as session:
        add_repo(session, "acme/app", "https://example.invalid/x.git", "github")
        add_credential(session, configured, "acme", "vcs", "github", {"token": TOKEN})
    fake.routes["/repos/acme/app"] = {"default_branch": "master"}
    with session_scope(engine) as session, pytest.raises(InvalidRequest) as refused:
        watch_service.watch(session, configured, "acme/app")
    assert refused.value.message == NO_CONFIG
    assert fake.calls("POST") == []  # no hook
    with session_scope(engine) as session:
        assert session.scalars(select(RepoHook)).all() == []  # and no secret
    fake.routes.pop("/repos/acme/app")  # a repository the token cannot see: a clear 404
    with session_scope(engine) as session, pytest.raises(NotFound) as missing:
        watch_service.watch(session, configured, "acme/app")
    assert "acme/app is not on github, or its token cannot see it" in missing.value.message
    assert TOKEN not in missing.value.message


@pytest.mark.parametrize(
    ("name", "field"), [("github", "context"), ("gitlab", "name"), ("bitbucket", "key")]
)
def test_each_pipeline_reports_under_its_own_status_context(
    fake: FakeForge, engine: Engine, settings: Settings, name: str, field: str
) -> None:
    """Two pipelines of one commit must not overwrite each other's status on the forge."""
    client = forge(fake, name)
    default = make_build(engine, "PASSED")
    base = make_build(engine, "FAILED")
    with session_scope(engine) as session:
        session.get(Build, base).pipeline = "base-image"  # type: ignore[union-attr]
    with session_scope(engine) as session:
        forge_reports.set_status(session, settings, default, client)
        forge_reports.set_status(session, settings, base, client)
    posted = [r.body for r in fake.calls("POST") if "status" in r.path]
    assert [body[field] for body in posted] == ["ocelot", "ocelot/base-image"]
