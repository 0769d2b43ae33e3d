"""The dashboard without a browser (Flask test client, SQLite and PostgreSQL): sign-in and
sessions, CSRF, roles, the badge, HTML vs JSON errors, the home page's query count, the build
page's escaping and its event stream. The browser tier is
tests/integration/test_dashboard_browser.py."""

from __future__ import annotations

import os
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import ApiToken, Build, LogChunk, Repo, utcnow
from ocelot.services import builds as build_service
from ocelot.services.forge_reports import build_url
from ocelot.services.repos import add_repo
from ocelot.services.tokens import create_token, revoke_token
from ocelot.settings import Settings
from ocelot.status import BuildStatus
from tests.sqlcount import counted
from web import create_app
from web.dashboard.auth import SESSION_KEY_FILE, session_secret

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def mint(engine: Engine, name: str, role: str = "admin") -> str:
    with session_scope(engine) as session:
        return create_token(session, name, role=role)


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)
    return match.group(1)


def sign_in(client: FlaskClient, token: str) -> None:
    resp = client.post("/login", data={"token": token, "csrf_token": csrf_of(client)})
    assert resp.status_code == 302, resp.get_data(as_text=True)


def make_build(
    engine: Engine,
    repo: str,
    status: str = BuildStatus.QUEUED,
    branch: str = "master",
    group: str | None = None,
    **fields: Any,
) -> int:
    """A build row in ``status`` (set directly: these tests are about showing builds)."""
    with session_scope(engine) as session:
        if session.scalar(select(Repo.id).where(Repo.full_name == repo)) is None:
            add_repo(session, repo, "/nowhere", group=group)
        build = build_service.create_build(session, repo, branch=branch, hash="ab" * 20)
        build.status = status
        now = utcnow()
        if status != BuildStatus.QUEUED:
            build.started_at = now - timedelta(seconds=75)
        if status in (BuildStatus.PASSED, BuildStatus.FAILED, BuildStatus.KILLED):
            build.finished_at = now
        for key, value in fields.items():
            setattr(build, key, value)
        session.flush()
        return build.id


@pytest.fixture
def signed_in(client: FlaskClient, engine: Engine) -> FlaskClient:
    sign_in(client, mint(engine, "dash-admin"))
    return client


# --- sign-in, sessions ---------------------------------------------------------------------


def test_signed_out_pages_go_to_the_sign_in_page(client: FlaskClient) -> None:
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login?next=/"
    resp = client.get("/builds/7?x=1")
    assert resp.headers["Location"].startswith("/login?next=/builds/7")
    assert client.get("/builds/7/events").status_code == 401
    page = client.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.get_data(as_text=True)


def test_sign_in_sign_out_and_the_cookie(app: Flask, client: FlaskClient, engine: Engine) -> None:
    token = mint(engine, "dash-user", role="build")
    resp = client.post(
        "/login", data={"token": token, "csrf_token": csrf_of(client), "next": "/?group=x"}
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/?group=x"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert token not in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    data = app.session_interface.get_signing_serializer(app).loads(value)  # type: ignore[attr-defined]
    assert data["token_name"] == "dash-user" and data["token_role"] == "build"
    assert token not in repr(data)
    home = client.get("/")
    assert home.status_code == 200
    assert "dash-user" in home.get_data(as_text=True)
    out = client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_a_wrong_token_gets_a_clear_message(client: FlaskClient, engine: Engine) -> None:
    resp = client.post("/login", data={"token": "oct_nope", "csrf_token": csrf_of(client)})
    assert resp.status_code == 401
    assert "invalid or revoked token" in resp.get_data(as_text=True)
    token = mint(engine, "gone")
    with session_scope(engine) as session:
        revoke_token(session, "gone")
    resp = client.post("/login", data={"token": token, "csrf_token": csrf_of(client)})
    assert resp.status_code == 401
    assert "invalid or revoked token" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_next_never_leaves_the_site(app: Flask, engine: Engine) -> None:
    token = mint(engine, "next-user")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        client = app.test_client()
        resp = client.post(
            "/login", data={"token": token, "csrf_token": csrf_of(client), "next": target}
        )
        assert resp.headers["Location"] == "/", target


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_session_ends_when_its_token_dies(
    signed_in: FlaskClient, engine: Engine, how: str
) -> None:
    assert signed_in.get("/").status_code == 200
    with session_scope(engine) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "dash-admin"))
        assert row is not None
        if how == "revoked":
            row.revoked, row.revoked_at = True, utcnow()
        else:
            row.expires_at = utcnow() - timedelta(seconds=1)
    resp = signed_in.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    page = signed_in.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"your token {'was revoked' if how == 'revoked' else 'expired'}" in page
    assert signed_in.get("/").status_code == 302  # and it stays signed out


def test_a_cookie_from_another_database_is_refused(signed_in: FlaskClient, engine: Engine) -> None:
    """Same id, another token (a new database): the fingerprint does not match."""
    with session_scope(engine) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "dash-admin"))
        assert row is not None
        row.token_hash = "0" * 64
    resp = signed_in.get("/")
    assert resp.status_code == 302


def test_session_key_from_the_secret_or_a_kept_file(settings: Settings) -> None:
    with_secret = settings.with_(secret_key="passphrase")
    assert session_secret(with_secret) == session_secret(settings.with_(secret_key="passphrase"))
    assert session_secret(with_secret) != session_secret(settings.with_(secret_key="other"))
    assert b"passphrase" not in session_secret(with_secret)
    first = session_secret(settings)
    path = settings.home / SESSION_KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert session_secret(settings) == first  # kept: a restart keeps sessions
    assert first != session_secret(with_secret)


def test_a_session_survives_a_restart(
    client: FlaskClient, settings: Settings, engine: Engine
) -> None:
    sign_in(client, mint(engine, "restart"))
    again = create_app(settings).test_client()
    cookie = client.get_cookie("ocelot_session")
    assert cookie is not None
    again.set_cookie("ocelot_session", cookie.value)
    assert again.get("/").status_code == 200


def test_secure_cookie_behind_https(settings: Settings, engine: Engine) -> None:
    app = create_app(settings.with_(public_url="https://ci.example"))
    client = app.test_client()
    token = mint(engine, "https-user")
    page = client.get("/login", base_url="https://ci.example")
    csrf = CSRF.search(page.get_data(as_text=True))
    assert csrf
    resp = client.post(
        "/login",
        data={"token": token, "csrf_token": csrf.group(1)},
        base_url="https://ci.example",
        headers={"Referer": "https://ci.example/login"},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert "Secure" in resp.headers["Set-Cookie"]


# --- CSRF and roles ------------------------------------------------------------------------


def test_forms_without_a_csrf_token_are_refused(signed_in: FlaskClient, engine: Engine) -> None:
    build_id = make_build(engine, "acme/csrf")
    resp = signed_in.post(f"/builds/{build_id}/kill")
    assert resp.status_code == 400
    assert resp.content_type.startswith("text/html")
    assert "CSRF token is missing" in resp.get_data(as_text=True)
    resp = signed_in.post(f"/builds/{build_id}/kill", data={"csrf_token": "forged"})
    assert resp.status_code == 400
    assert signed_in.post("/login", data={"token": "x"}).status_code == 400
    assert signed_in.post("/logout").status_code == 400
    with session_scope(engine) as session:
        assert session.get(Build, build_id).status == BuildStatus.QUEUED  # type: ignore[union-attr]


def test_the_api_and_hooks_need_no_csrf_token(client: FlaskClient, engine: Engine) -> None:
    auth = {"Authorization": f"Bearer {mint(engine, 'api-user')}"}
    resp = client.post("/api/v1/repos", headers=auth, json={"full_name": "a/b", "url": "/x"})
    assert resp.status_code == 201
    resp = client.post("/hooks/github", data=b"{}", content_type="application/json")
    assert resp.status_code != 400 or "CSRF" not in resp.get_data(as_text=True)
    assert resp.content_type == "application/json"


def test_a_read_session_sees_no_actions_and_may_not_post_them(
    client: FlaskClient, engine: Engine
) -> None:
    build_id = make_build(engine, "acme/roles", status=BuildStatus.RUNNING)
    sign_in(client, mint(engine, "reader", role="read"))
    page = client.get(f"/builds/{build_id}").get_data(as_text=True)
    assert 'id="kill"' not in page and 'id="rebuild"' not in page
    csrf = csrf_of(client, f"/builds/{build_id}")
    for action in ("kill", "rebuild", "approve", "decline"):
        resp = client.post(f"/builds/{build_id}/{action}", data={"csrf_token": csrf})
        assert resp.status_code == 403, action
        assert "role &#39;build&#39; (yours is &#39;read&#39;)" in resp.get_data(as_text=True)
    with session_scope(engine) as session:
        assert session.get(Build, build_id).kill_requested_by is None  # type: ignore[union-attr]


def test_a_build_session_kills_and_rebuilds(client: FlaskClient, engine: Engine) -> None:
    build_id = make_build(engine, "acme/acts")
    sign_in(client, mint(engine, "builder", role="build"))
    page = client.get(f"/builds/{build_id}").get_data(as_text=True)
    assert 'id="kill"' in page and 'id="rebuild"' in page
    csrf = csrf_of(client, f"/builds/{build_id}")
    resp = client.post(f"/builds/{build_id}/kill", data={"csrf_token": csrf})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/builds/{build_id}"
    page = client.get(f"/builds/{build_id}").get_data(as_text=True)
    assert "KILLED" in page and "killed by builder" in page and 'id="kill"' not in page
    again = client.post(f"/builds/{build_id}/kill", data={"csrf_token": csrf})
    assert again.status_code == 302  # already finished: said on the page, not an error
    assert "has already finished" in client.get(again.headers["Location"]).get_data(as_text=True)
    resp = client.post(f"/builds/{build_id}/rebuild", data={"csrf_token": csrf})
    assert resp.status_code == 302
    new_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    assert new_id != build_id
    with session_scope(engine) as session:
        new = session.get(Build, new_id)
        assert new is not None and new.trigger == "rebuild" and new.triggered_by == "builder"


def test_approve_and_decline_from_the_page(client: FlaskClient, engine: Engine) -> None:
    held = [
        make_build(
            engine,
            "acme/forked",
            status=BuildStatus.PENDING_APPROVAL,
            trusted=False,
            trust_reason="pull request #7 comes from evil/app, not acme/forked",
            pr_id="7",
        )
        for _ in range(2)
    ]
    sign_in(client, mint(engine, "approver", role="build"))
    page = client.get(f"/builds/{held[0]}").get_data(as_text=True)
    assert 'id="approve"' in page and 'id="decline"' in page
    assert "Untrusted build: pull request #7 comes from evil/app" in page
    csrf = csrf_of(client, f"/builds/{held[0]}")
    assert client.post(f"/builds/{held[0]}/approve", data={"csrf_token": csrf}).status_code == 302
    assert client.post(f"/builds/{held[1]}/decline", data={"csrf_token": csrf}).status_code == 302
    with session_scope(engine) as session:
        assert session.get(Build, held[0]).status == BuildStatus.QUEUED  # type: ignore[union-attr]
        assert session.get(Build, held[1]).status == BuildStatus.DECLINED  # type: ignore[union-attr]
    page = client.get(f"/builds/{held[0]}").get_data(as_text=True)
    assert "approved by approver" in page


# --- pages ---------------------------------------------------------------------------------


def test_home_groups_repos_with_their_last_build(signed_in: FlaskClient, engine: Engine) -> None:
    make_build(engine, "acme/web", status=BuildStatus.FAILED, group="frontend")
    last = make_build(engine, "acme/web", status=BuildStatus.PASSED, branch="main")
    make_build(engine, "acme/db", status=BuildStatus.RUNNING, group="backend")
    with session_scope(engine) as session:
        add_repo(session, "acme/idle", "/nowhere")
    page = signed_in.get("/").get_data(as_text=True)
    assert page.index("backend") < page.index("frontend")
    assert f"#{last} PASSED" in page and "main" in page and "abababa" in page
    assert "1m 15s" in page  # duration of the last build
    assert "no builds yet" in page
    row = page[page.index('data-repo="acme/web"') :]
    row = row[: row.index("</tr>")]
    assert row.count('class="dot ') == 2
    only = signed_in.get("/?group=backend").get_data(as_text=True)
    assert "acme/db" in only and "acme/web" not in only and "acme/idle" not in only
    # the filter still offers every group
    assert '<option value="frontend"' in only and '<option value="backend" selected' in only


def test_home_needs_the_same_queries_for_one_repo_or_many(
    signed_in: FlaskClient, engine: Engine
) -> None:
    for _ in range(3):
        make_build(engine, "acme/one", status=BuildStatus.PASSED)
    with counted(engine) as few:
        assert signed_in.get("/").status_code == 200
    for n in range(6):
        for _ in range(3):
            make_build(engine, f"acme/many{n}", status=BuildStatus.FAILED, group=f"g{n % 2}")
    with counted(engine) as many:
        page = signed_in.get("/")
    assert page.status_code == 200 and "acme/many5" in page.get_data(as_text=True)
    assert len(many) == len(few), (few, many)
    assert len(many) <= 5, many


def test_the_strip_shows_the_last_twenty(signed_in: FlaskClient, engine: Engine) -> None:
    ids = [make_build(engine, "acme/busy", status=BuildStatus.PASSED) for _ in range(23)]
    page = signed_in.get("/").get_data(as_text=True)
    assert page.count('class="dot ') == 20
    assert f'/builds/{ids[2]}"' not in page and f'/builds/{ids[3]}"' in page
    shown = [int(n) for n in re.findall(r'class="dot s-passed" href="/builds/(\d+)"', page)]
    assert shown == ids[3:]  # oldest left, newest right


def test_the_build_page_escapes_the_log(signed_in: FlaskClient, engine: Engine) -> None:
    build_id = make_build(
        engine, "acme/xss", status=BuildStatus.FAILED, message="fix <b>bold</b> & more"
    )
    with session_scope(engine) as session:
        session.add(
            LogChunk(build_id=build_id, seq=1, stage="s", text="<script>alert(1)</script>\n")
        )
        session.add(LogChunk(build_id=build_id, seq=2, stage="s", text="\x1b[31mred\x1b[0m\n"))
    page = signed_in.get(f"/builds/{build_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "fix &lt;b&gt;bold&lt;/b&gt; &amp; more" in page
    assert '<span class="fg1">red</span>' in page and "\x1b" not in page
    assert 'id="L2"' in page and 'href="#L2"' in page
    assert 'data-after="2"' in page and 'data-live="no"' in page
    raw = signed_in.get(f"/builds/{build_id}/log.txt")
    assert raw.get_data(as_text=True) == "<script>alert(1)</script>\n\x1b[31mred\x1b[0m\n"
    assert "attachment" in raw.headers["Content-Disposition"]


def test_the_event_stream_starts_after_the_rendered_log(
    signed_in: FlaskClient, engine: Engine
) -> None:
    build_id = make_build(engine, "acme/sse", status=BuildStatus.PASSED)
    with session_scope(engine) as session:
        for seq in (1, 2, 3):
            session.add(LogChunk(build_id=build_id, seq=seq, stage="s", text=f"line {seq}\n"))
    resp = signed_in.get(f"/builds/{build_id}/events?after=2")
    assert resp.mimetype == "text/event-stream"
    body = resp.get_data(as_text=True)
    assert "line 3" in body and "line 1" not in body and "line 2" not in body
    assert body.rstrip().endswith('event: end\ndata: {"status": "PASSED"}')


# --- badge, errors, links ------------------------------------------------------------------


def test_the_badge_shows_the_last_finished_status_only(client: FlaskClient, engine: Engine) -> None:
    def badge(path: str) -> str:
        resp = client.get(path)
        assert resp.status_code == 200
        assert resp.mimetype == "image/svg+xml"
        assert resp.headers["Cache-Control"] == "no-cache"
        return resp.get_data(as_text=True)

    assert "unknown" in badge("/badge/acme/nothing.svg")  # untracked looks like no builds
    make_build(engine, "acme/badged", status=BuildStatus.PASSED, branch="main")
    make_build(engine, "acme/badged", status=BuildStatus.FAILED, branch="dev")
    make_build(engine, "acme/badged", status=BuildStatus.RUNNING, branch="dev")
    make_build(engine, "acme/badged", status=BuildStatus.PASSED, branch="dev", pr_id="3")
    svg = badge("/badge/acme/badged.svg")
    assert "failing" in svg and "passing" not in svg
    assert "dev" not in svg and "abababa" not in svg  # the status and nothing else
    assert "passing" in badge("/badge/acme/badged.svg?branch=main")
    assert "unknown" in badge("/badge/acme/badged.svg?branch=nope")


def test_pages_get_html_errors_and_the_api_keeps_json(
    signed_in: FlaskClient, engine: Engine
) -> None:
    page = signed_in.get("/builds/999")
    assert page.status_code == 404 and page.content_type.startswith("text/html")
    assert "there is no build 999" in page.get_data(as_text=True)
    unknown = signed_in.get("/no/such/page")
    assert unknown.status_code == 404 and unknown.content_type.startswith("text/html")
    assert signed_in.put("/").status_code == 405
    auth = {"Authorization": f"Bearer {mint(engine, 'json-user')}"}
    api = signed_in.get("/api/v1/builds/999", headers=auth)
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"
    assert signed_in.get("/api/v1/nope", headers=auth).get_json()["error"]["code"] == "not_found"
    assert signed_in.get("/hooks/nope").content_type == "application/json"
    assert signed_in.get("/api/v1/builds/1").status_code == 401  # a session is no bearer token


def test_an_unexpected_error_is_an_html_500_on_pages(
    app: Flask, signed_in: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr("web.dashboard.views.build_service.get_build", boom)
    resp = signed_in.get("/builds/1")
    assert resp.status_code == 500 and resp.content_type.startswith("text/html")
    text = resp.get_data(as_text=True)
    assert "internal server error" in text and "secret detail" not in text


def test_forge_statuses_link_the_build_page(settings: Settings) -> None:
    assert build_url(settings, 42) == f"{settings.public_url}/builds/42"


def test_static_files_are_served_signed_out(client: FlaskClient, tmp_path: Path) -> None:
    css = client.get("/dashboard/static/app.css")
    assert css.status_code == 200 and "text/css" in css.content_type
    assert client.get("/dashboard/static/app.js").status_code == 200


def test_the_build_page_links_upstream_and_downstream_builds(
    signed_in: FlaskClient, engine: Engine
) -> None:
    lib = make_build(engine, "acme/lib", status=BuildStatus.PASSED)
    app = make_build(
        engine,
        "acme/app",
        status=BuildStatus.FAILED,
        trigger="upstream",
        triggered_by=f"acme/lib#{lib}",
        upstream_repo="acme/lib",
        upstream_build_id=lib,
        upstream_hash="cd" * 20,
    )
    page = signed_in.get(f"/builds/{app}").get_data(as_text=True)
    upstream = page[page.index('id="upstream"') :]
    assert upstream.startswith(f'id="upstream"><a href="/builds/{lib}">acme/lib#{lib}</a>')
    assert "<code>cdcdcdc</code>" in upstream[: upstream.index("</dd>")]
    page = signed_in.get(f"/builds/{lib}").get_data(as_text=True)
    downstream = page[page.index('id="downstream"') :]
    downstream = downstream[: downstream.index("</dd>")]
    assert f'href="/builds/{app}">acme/app#{app} FAILED</a>' in downstream
    assert 'id="upstream"' not in page
    assert 'id="downstream"' not in signed_in.get(f"/builds/{app}").get_data(as_text=True)
