"""The repository page and the queue page (Flask test client, SQLite and PostgreSQL):
filters, pagination, build now (roles, CSRF), escaping, the SVG charts, the query count."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import Build, Delivery, Poll, Repo, RepoHook, utcnow
from ocelot.services.workers import register
from ocelot.settings import load_settings
from ocelot.status import BuildStatus
from tests.functional.test_dashboard import csrf_of, make_build, mint, sign_in
from tests.sqlcount import counted


def read_client(client: FlaskClient, engine: Engine) -> FlaskClient:
    sign_in(client, mint(engine, "reader", role="read"))
    return client


@pytest.fixture
def signed_in(client: FlaskClient, engine: Engine) -> FlaskClient:
    sign_in(client, mint(engine, "pages-admin"))
    return client


def rows(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="build-row" data-build="(\d+)"', page)]


def test_the_repo_page_renders_for_a_read_session(client: FlaskClient, engine: Engine) -> None:
    first = make_build(engine, "acme/app", status=BuildStatus.PASSED)
    second = make_build(engine, "acme/app", status=BuildStatus.FAILED, branch="dev")
    read_client(client, engine)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/repos/acme/app"' in home and 'href="/queue"' in home
    resp = client.get("/repos/acme/app")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert rows(page) == [second, first]  # newest first
    assert "![ocelot](http://" in page and "/badge/acme/app.svg)" in page
    assert 'id="build-now"' not in page  # read role: no form
    assert "Webhook secret: not set" in page and "Not polled." in page
    assert "Pass rate:" in page and "50%" in page
    assert client.get("/repos/acme/nope").status_code == 404


def test_filters_and_pagination(signed_in: FlaskClient, engine: Engine) -> None:
    ids = [make_build(engine, "acme/big", status=BuildStatus.PASSED) for _ in range(27)]
    dev = make_build(engine, "acme/big", status=BuildStatus.FAILED, branch="dev")
    poll = make_build(engine, "acme/big", status=BuildStatus.QUEUED, trigger="poll")
    page1 = signed_in.get("/repos/acme/big").get_data(as_text=True)
    assert rows(page1) == [poll, dev, *reversed(ids)][:25]
    assert "page 1 of 2" in page1 and 'rel="next"' in page1
    page2 = signed_in.get("/repos/acme/big?page=2").get_data(as_text=True)
    assert rows(page2) == list(reversed(ids))[23:]
    assert 'rel="prev"' in page2
    assert rows(signed_in.get("/repos/acme/big?branch=dev").get_data(as_text=True)) == [dev]
    assert rows(signed_in.get("/repos/acme/big?status=FAILED").get_data(as_text=True)) == [dev]
    assert rows(signed_in.get("/repos/acme/big?trigger=poll").get_data(as_text=True)) == [poll]
    none = signed_in.get("/repos/acme/big?branch=dev&status=PASSED").get_data(as_text=True)
    assert rows(none) == [] and "match these filters" in none
    assert rows(signed_in.get("/repos/acme/big?page=x").get_data(as_text=True)) == rows(page1)
    filtered = signed_in.get("/repos/acme/big?status=PASSED&page=2").get_data(as_text=True)
    assert len(rows(filtered)) == 2 and "status=PASSED" in filtered  # pager keeps filters


def test_build_now_roles_and_csrf(client: FlaskClient, engine: Engine, app: Any) -> None:
    make_build(engine, "acme/go", status=BuildStatus.PASSED)
    queued: list[int] = []
    app.extensions["ocelot"].enqueue = queued.append
    read_client(client, engine)
    csrf = csrf_of(client, "/repos/acme/go")
    resp = client.post("/repos/acme/go/build", data={"csrf_token": csrf, "branch": "main"})
    assert resp.status_code == 403
    builder = app.test_client()
    sign_in(builder, mint(engine, "builder", role="build"))
    page = builder.get("/repos/acme/go").get_data(as_text=True)
    assert 'id="build-now"' in page
    assert builder.post("/repos/acme/go/build", data={"branch": "main"}).status_code == 400
    csrf = csrf_of(builder, "/repos/acme/go")
    resp = builder.post("/repos/acme/go/build", data={"csrf_token": csrf, "branch": "main"})
    assert resp.status_code == 302
    new_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    assert resp.headers["Location"] == f"/builds/{new_id}" and queued == [new_id]
    with session_scope(engine) as session:
        build = session.get(Build, new_id)
        assert build is not None and build.branch == "main"
        assert build.status == BuildStatus.QUEUED and build.triggered_by == "builder"


def test_branch_names_and_reasons_are_escaped(signed_in: FlaskClient, engine: Engine) -> None:
    make_build(
        engine,
        "acme/xss",
        branch="<script>alert(1)</script>",
        pending_reason="<img src=x onerror=alert(2)>",
    )
    with session_scope(engine) as session:
        repo_id = session.scalar(select(Repo.id).where(Repo.full_name == "acme/xss"))
        assert repo_id is not None
        session.add(
            Delivery(
                forge="github",
                repo_id=repo_id,
                verdict="ignored",
                reason="<b>bad</b> ref",
                status_code=202,
            )
        )
        session.add(
            Poll(repo_id=repo_id, cron="*/5 * * * *", branches=["<i>x</i>"], last_error="<u>e")
        )
        session.add(RepoHook(repo_id=repo_id))
    page = signed_in.get("/repos/acme/xss").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    home = signed_in.get("/").get_data(as_text=True)  # its rows are made in Python
    assert "<script>alert(1)" not in home and "&lt;script&gt;alert(1)&lt;/script&gt;" in home
    assert "<b>bad</b>" not in page and "&lt;b&gt;bad&lt;/b&gt; ref" in page
    assert "<i>x</i>" not in page and "<u>e" not in page and "&lt;u&gt;e" in page
    assert "Webhook secret: set" in page and "*/5 * * * *" in page
    queue = signed_in.get("/queue").get_data(as_text=True)
    assert "<script>alert(1)" not in queue and "<img src=x" not in queue
    assert "&lt;img src=x onerror=alert(2)&gt;" in queue


def test_charts_have_one_point_per_finished_build(signed_in: FlaskClient, engine: Engine) -> None:
    for _ in range(4):
        make_build(engine, "acme/chart", status=BuildStatus.PASSED)
    make_build(engine, "acme/chart", status=BuildStatus.FAILED)
    make_build(engine, "acme/chart", status=BuildStatus.RUNNING)  # not finished
    make_build(engine, "acme/chart")  # queued
    page = signed_in.get("/repos/acme/chart").get_data(as_text=True)
    for chart in ("chart-duration", "chart-wait"):
        part = page[page.index(f'id="{chart}"') :]
        part = part[: part.index("</svg>")]
        assert "<svg" in part and "<polyline" in part
        assert part.count('class="pt"') == 5
    assert "80%" in page and "4 of 5" in page


def test_the_chart_takes_the_last_fifty(signed_in: FlaskClient, engine: Engine) -> None:
    for _ in range(52):
        make_build(engine, "acme/many", status=BuildStatus.PASSED)
    page = signed_in.get("/repos/acme/many").get_data(as_text=True)
    part = page[page.index('id="chart-duration"') :]
    assert part[: part.index("</svg>")].count('class="pt"') == 50


def test_the_queue_page(client: FlaskClient, engine: Engine) -> None:
    now = utcnow()
    older = make_build(
        engine,
        "acme/q",
        pending_reason="no worker offers machine tag gpu",
        queued_at=now - timedelta(minutes=5),
    )
    held = make_build(
        engine,
        "acme/q",
        status=BuildStatus.PENDING_APPROVAL,
        pending_reason="waiting for approval: fork",
        queued_at=now - timedelta(minutes=1),
    )
    running = make_build(engine, "acme/q", status=BuildStatus.RUNNING, worker="box-1")
    stray = make_build(engine, "acme/q", status=BuildStatus.RUNNING, worker="ghost")
    make_build(engine, "acme/q", status=BuildStatus.PASSED)
    for name, tags, beat_ago in (("box-1", "gpu,linux", 2), ("box-2", "", 600)):
        settings = load_settings({"OCELOT_WORKER_NAME": name, "OCELOT_WORKER_TAGS": tags,
                                  "OCELOT_MAX_BUILDS": "3"})  # fmt: skip
        with session_scope(engine) as session:
            register(session, settings, f"boot-{name}", now=now - timedelta(seconds=beat_ago))
    read_client(client, engine)
    with counted(engine) as statements:
        page = client.get("/queue").get_data(as_text=True)
    assert len(statements) <= 6, statements  # token, waiting, running, workers, their builds
    assert "no worker offers machine tag gpu" in page and "waiting for approval: fork" in page
    waiting = [int(n) for n in re.findall(r'class="waiting-row" data-build="(\d+)"', page)]
    assert waiting == [older, held]
    box = page[page.index('data-worker="box-1"') :]
    box = box[: box.index("</tr>")]
    assert "alive" in box and "gpu, linux" in box and "1 / 3" in box
    assert f'data-build="{running}"' in box and re.search(r"· 1m 1\ds", box)
    lost = page[page.index('data-worker="box-2"') :]
    assert "lost" in lost[: lost.index("</tr>")] and "idle" in lost[: lost.index("</tr>")]
    assert page.index('data-worker="box-1"') < page.index('data-worker="box-2"')
    ghost = page[page.index('data-worker="ghost"') :]
    assert "not in the registry" in ghost and f'data-build="{stray}"' in ghost


def test_the_repo_page_needs_the_same_queries_for_few_builds_or_many(
    signed_in: FlaskClient, engine: Engine
) -> None:
    make_build(engine, "acme/qc", status=BuildStatus.PASSED)
    with counted(engine) as few:
        assert signed_in.get("/repos/acme/qc").status_code == 200
    for _ in range(30):
        make_build(engine, "acme/qc", status=BuildStatus.FAILED)
    with counted(engine) as many:
        assert signed_in.get("/repos/acme/qc").status_code == 200
    assert len(many) == len(few), many
