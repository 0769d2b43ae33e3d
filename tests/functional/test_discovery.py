"""Discovery against a fake forge over real HTTP: an account's repositories with and without
``ocelot.yml``; ``track`` adds only those with the file and is idempotent; nothing changes
without it; a forge 500 is a clear 502 without the token; the CLI command and the beat task."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from werkzeug.serving import make_server

from ocelot.cli.main import cli
from ocelot.db import session_scope
from ocelot.errors import InvalidRequest
from ocelot.forges.github import GitHub
from ocelot.models import Poll, Repo, RepoHook
from ocelot.services import discovery
from ocelot.services.credentials import add_credential
from ocelot.services.repos import add_repo
from ocelot.services.tokens import create_token
from ocelot.settings import Settings
from tests.fakes.forge import FakeForge
from tests.servers import free_port
from web import create_app
from worker.app import make_celery
from worker.tasks.discovery import run_discovery

TOKEN = "tok-discovery-s3cr3t-must-not-leak"
YML = "image: busybox\nstages:\n  - name: test\n    script: [true]\n"


def gh(name: str, branch: str | None = "main") -> dict[str, Any]:
    return {
        "full_name": f"acme/{name}",
        "clone_url": f"https://github.example/acme/{name}.git",
        "default_branch": branch,
    }


@pytest.fixture
def fake() -> Iterator[FakeForge]:
    server = FakeForge()
    server.routes["/users/acme/repos"] = [gh("app"), gh("docs"), gh("empty", None), gh("old")]
    server.files["/repos/acme/app/contents/ocelot.yml"] = YML
    server.files["/repos/acme/old/contents/ocelot.yml"] = YML
    yield server
    server.close()


@pytest.fixture
def configured(settings: Settings, fake: FakeForge, engine: Engine) -> Settings:
    """Settings pointing every forge at the fake; acme has a GitHub token; acme/old is tracked."""
    s = settings.with_(
        secret_key="test-secret-key",
        github_api_url=fake.url,
        gitlab_api_url=fake.url,
        bitbucket_api_url=fake.url,
    )
    with session_scope(engine) as session:
        add_credential(session, s, "acme", "vcs", "main", {"forge": "github", "token": TOKEN})
        add_repo(session, "acme/old", "https://github.example/acme/old.git", "github")
    return s


@pytest.fixture
def web(configured: Settings) -> FlaskClient:
    app = create_app(configured)
    app.testing = True
    return app.test_client()


@pytest.fixture
def auth(engine: Engine) -> dict[str, str]:
    with session_scope(engine) as session:
        return {"Authorization": f"Bearer {create_token(session, 'admin')}"}


def tracked(engine: Engine) -> dict[str, tuple[str, str, str | None]]:
    with session_scope(engine) as session:
        return {r.full_name: (r.vcs_type, r.url, r.group) for r in session.scalars(select(Repo))}


def by_name(rows: list[dict[str, Any]]) -> dict[str, tuple[bool, str]]:
    return {r["full_name"]: (r["has_ocelot_yml"], r["tracked"]) for r in rows}


def post(web: FlaskClient, auth: dict[str, str], **body: Any) -> Any:
    return web.post("/api/v1/repos/discover", headers=auth, json={"acct": "acme", **body})


def test_without_track_lists_and_changes_nothing(
    web: FlaskClient, auth: dict[str, str], fake: FakeForge, engine: Engine
) -> None:
    before = tracked(engine)
    resp = post(web, auth, forge="github")
    assert resp.status_code == 200, resp.get_json()
    rows = resp.get_json()["repos"]
    assert by_name(rows) == {
        "acme/app": (True, "no"),
        "acme/docs": (False, "no"),
        "acme/empty": (False, "no"),
        "acme/old": (True, "already"),
    }
    assert [r["full_name"] for r in rows] == sorted(r["full_name"] for r in rows)
    assert "no default branch" in next(r for r in rows if r["full_name"] == "acme/empty")["reason"]
    assert tracked(engine) == before
    # Listed with the account's token; each file read on the repository's default branch.
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in fake.requests)
    assert "/repos/acme/app/contents/ocelot.yml?ref=main" in [r.path for r in fake.requests]
    assert not any("acme/empty/contents" in r.path for r in fake.requests)


def test_track_adds_only_repos_with_ocelot_yml_and_is_idempotent(
    web: FlaskClient, auth: dict[str, str], engine: Engine
) -> None:
    resp = post(web, auth, forge="github", track=True, group="web")
    assert resp.status_code == 200, resp.get_json()
    assert by_name(resp.get_json()["repos"]) == {
        "acme/app": (True, "new"),
        "acme/docs": (False, "no"),
        "acme/empty": (False, "no"),
        "acme/old": (True, "already"),
    }
    after = tracked(engine)
    assert after == {
        "acme/app": ("github", "https://github.example/acme/app.git", "web"),
        "acme/old": ("github", "https://github.example/acme/old.git", None),  # untouched
    }
    again = post(web, auth, forge="github", track=True, group="web")
    assert again.status_code == 200
    assert {r["full_name"]: r["tracked"] for r in again.get_json()["repos"]} == {
        "acme/app": "already",
        "acme/docs": "no",
        "acme/empty": "no",
        "acme/old": "already",
    }
    assert tracked(engine) == after


def test_a_forge_500_is_a_clear_502_without_the_token(
    web: FlaskClient, auth: dict[str, str], fake: FakeForge, engine: Engine
) -> None:
    before = tracked(engine)
    fake.fail_next(1, 500)
    resp = post(web, auth, forge="github", track=True)
    assert resp.status_code == 502
    error = resp.get_json()["error"]
    assert error["code"] == "forge_error"
    assert error["message"].startswith("listing the github repositories of acme failed")
    assert "HTTP 500" in error["message"]
    assert TOKEN not in resp.get_data(as_text=True)
    assert tracked(engine) == before


def test_bad_input_and_a_missing_token(web: FlaskClient, auth: dict[str, str]) -> None:
    assert post(web, auth).status_code == 400  # no forge
    resp = post(web, auth, forge="git")
    assert resp.status_code == 400 and "plain git" in resp.get_json()["error"]["message"]
    resp = post(web, auth, acct="nobody", forge="gitlab")
    assert resp.status_code == 404
    assert "ocelot creds vcs add nobody gitlab" in resp.get_json()["error"]["message"]
    assert web.post("/api/v1/repos/discover", json={"acct": "acme"}).status_code == 401


def test_gitlab_group_and_bitbucket_workspace(
    configured: Settings, fake: FakeForge, engine: Engine
) -> None:
    fake.routes["/groups/grp/projects"] = [
        {
            "path_with_namespace": f"grp/{name}",
            "http_url_to_repo": f"https://gitlab.example/grp/{name}.git",
            "default_branch": "trunk",
        }
        for name in ("svc", "sub/deep", "wiki")
    ]
    fake.files["/projects/grp%2Fsvc/repository/files/ocelot.yml"] = YML
    fake.files["/projects/grp%2Fsub%2Fdeep/repository/files/ocelot.yml"] = YML
    fake.routes["/repositories/ws"] = {
        "values": [
            {
                "full_name": "ws/api",
                "mainbranch": {"name": "master"},
                "links": {"clone": [{"name": "https", "href": "https://bb.example/ws/api.git"}]},
            }
        ]
    }
    fake.routes["/repositories/ws/api/src/master/ocelot.yml"] = YML
    with session_scope(engine) as session:
        for acct, forge in (("grp", "gitlab"), ("ws", "bitbucket")):
            add_credential(session, configured, acct, "vcs", forge, {"token": TOKEN})
    with session_scope(engine) as session:
        rows = discovery.discover(session, configured, "grp", "gitlab", track=True)
    assert by_name(rows) == {
        "grp/svc": (True, "new"),
        "grp/sub/deep": (True, "no"),  # nested groups do not fit ACCT/REPO
        "grp/wiki": (False, "no"),
    }
    assert "ACCT/REPO" in next(r for r in rows if r["full_name"] == "grp/sub/deep")["reason"]
    with session_scope(engine) as session:
        rows = discovery.discover(session, configured, "ws", "bitbucket", track=True)
    assert by_name(rows) == {"ws/api": (True, "new")}
    repos = tracked(engine)
    assert repos["grp/svc"] == ("gitlab", "https://gitlab.example/grp/svc.git", None)
    assert repos["ws/api"] == ("bitbucket", "https://bb.example/ws/api.git", None)


@pytest.fixture
def ocelot(web: FlaskClient, auth: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    port = free_port()
    server = make_server("127.0.0.1", port, web.application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "OCELOT_URL": f"http://127.0.0.1:{port}",
        "OCELOT_TOKEN": auth["Authorization"].split()[1],
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "COLUMNS": "80",
    }

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    yield run
    server.shutdown()


def test_cli_discover_then_track(ocelot: Any, fake: FakeForge, engine: Engine) -> None:
    result = ocelot("repos", "discover", "acme", "--forge", "github")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    row = next(line for line in lines if line.startswith("acme/app"))
    assert row.split()[:3] == ["acme/app", "yes", "no"]
    assert "add --track" in result.output
    assert "acme/app" not in tracked(engine)
    result = ocelot("repos", "discover", "acme", "--forge", "github", "--track", "-g", "web")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("acme/app"))
    assert row.split()[:4] == ["acme/app", "yes", "new", "poll"]  # 127.0.0.1: not reachable
    assert "now tracking 1 new repository (0 with a webhook, 1 polled)" in result.output
    assert tracked(engine)["acme/app"][2] == "web"
    fake.fail_next(1, 500)
    result = ocelot("repos", "discover", "acme", "--forge", "github")
    assert result.exit_code != 0 and "HTTP 500" in result.output
    assert TOKEN not in result.output


def test_beat_task_tracks_configured_accounts_and_survives_a_failing_one(
    configured: Settings, engine: Engine
) -> None:
    s = configured.with_(discover="github:acme, gitlab:nobody", discover_interval=120.0)
    assert run_discovery(engine, s) == {"github:acme": ["acme/app"]}  # gitlab: no token
    assert run_discovery(engine, s) == {"github:acme": []}
    assert set(tracked(engine)) == {"acme/app", "acme/old"}
    entry = make_celery(s).conf.beat_schedule["discover-repos"]
    assert entry["task"] == "ocelot.discovery.run" and entry["schedule"] == 120.0


def test_parse_targets() -> None:
    assert discovery.parse_targets(" github:acme,, GitLab:g1 ") == [
        ("github", "acme"),
        ("gitlab", "g1"),
    ]
    assert discovery.parse_targets("") == []
    for bad in ("acme", "git:acme", "github:"):
        with pytest.raises(InvalidRequest, match="FORGE:ACCT"):
            discovery.parse_targets(bad)


def test_github_organisation_lists_its_private_repos_and_pages(
    configured: Settings, fake: FakeForge, engine: Engine
) -> None:
    """An organisation is listed through orgs/<org>/repos (private repos included), page by
    page; the user listing is not used then."""
    page = [gh(f"r{i}") for i in range(100)]
    fake.routes["/orgs/acme/repos"] = page  # the fake answers every page with the same 100
    fake.routes.pop("/users/acme/repos")
    with session_scope(engine) as session:
        rows = discovery.discover(session, configured, "acme", "github", track=False)
    assert len(rows) == 100  # the same names on every page: listed once each
    pages = [r for r in fake.requests if r.path.startswith("/orgs/acme/repos")]
    assert len(pages) == 10  # full pages keep it going, up to 1,000 repositories


# -- a tracked repository is set up to build: a webhook, else a poll ------------------------


def setups(engine: Engine) -> dict[str, tuple[str | None, tuple[str, list[str]] | None]]:
    """Per tracked repository: the forge's hook id, and the poll (cron, branches)."""
    with session_scope(engine) as session:
        hooks = {h.repo_id: h.forge_hook_id for h in session.scalars(select(RepoHook))}
        polls = {p.repo_id: (p.cron, list(p.branches)) for p in session.scalars(select(Poll))}
        return {
            r.full_name: (hooks.get(r.id), polls.get(r.id)) for r in session.scalars(select(Repo))
        }


def test_tracking_installs_a_webhook_when_the_forge_can_reach_ocelot(
    configured: Settings, fake: FakeForge, engine: Engine
) -> None:
    public = configured.with_(public_url="https://ci.example.com")
    with session_scope(engine) as session:
        rows = discovery.discover(session, public, "acme", "github", track=True)
    app = next(r for r in rows if r["full_name"] == "acme/app")
    assert (app["tracked"], app["setup"], app.get("reason")) == ("new", "webhook", None)
    [created] = fake.calls("POST", "/repos/acme/app/hooks")
    assert created.body["config"]["url"] == "https://ci.example.com/hooks/github"
    assert created.headers["Authorization"] == f"Bearer {TOKEN}"
    hook_id, poll = setups(engine)["acme/app"]
    assert hook_id and poll is None
    assert "setup" not in next(r for r in rows if r["full_name"] == "acme/old")  # untouched


def test_tracking_polls_when_the_forge_cannot_reach_ocelot(
    configured: Settings, fake: FakeForge, engine: Engine
) -> None:
    assert configured.public_url.startswith("http://127.0.0.1")
    with session_scope(engine) as session:
        rows = discovery.discover(session, configured, "acme", "github", track=True)
    app = next(r for r in rows if r["full_name"] == "acme/app")
    assert (app["tracked"], app["setup"]) == ("new", "poll")
    assert "OCELOT_PUBLIC_URL" in app["reason"] and "polling main every 5 minutes" in app["reason"]
    assert setups(engine)["acme/app"] == (None, ("*/5 * * * *", ["main"]))
    assert fake.calls("POST") == []


def test_a_refused_webhook_falls_back_to_a_poll(
    configured: Settings, fake: FakeForge, engine: Engine
) -> None:
    class NoHookRights(GitHub):
        """A token without the right to install hooks: the forge answers 403."""

        def install_hook(self, repo: str, url: str, secret: str) -> str:
            fake.fail_next(1, 403)
            return super().install_hook(repo, url, secret)

    public = configured.with_(public_url="https://ci.example.com")
    with session_scope(engine) as session:
        client = NoHookRights(fake.url, TOKEN)
        rows = discovery.discover(session, public, "acme", "github", track=True, client=client)
    app = next(r for r in rows if r["full_name"] == "acme/app")
    assert (app["tracked"], app["setup"]) == ("new", "poll")
    assert "webhook could not be installed" in app["reason"] and "HTTP 403" in app["reason"]
    assert TOKEN not in str(rows)
    assert setups(engine)["acme/app"] == (None, ("*/5 * * * *", ["main"]))  # no hook, no secret
