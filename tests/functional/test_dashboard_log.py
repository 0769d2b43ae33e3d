"""The build page's log (SQLite and PostgreSQL): sections per stage and attempt, numbered lines,
the tail first, any range on demand, the same number of queries for a long log as a short one,
the event stream's rendered lines, and the state the page polls while a build runs."""

from __future__ import annotations

import json
import re

from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.loglines import outline, read_lines
from ocelot.models import LogChunk
from ocelot.status import BuildStatus
from tests.functional.test_dashboard import make_build
from tests.functional.test_dashboard_pages import signed_in  # noqa: F401 - fixture
from tests.sqlcount import counted
from web.dashboard.build_page import PAGE_LINES


def store(engine: Engine, build_id: int, parts: list[tuple[int, str | None, str]]) -> None:
    """Chunks (attempt, stage, text) in order."""
    with session_scope(engine) as session:
        for seq, (attempt, stage, text) in enumerate(parts, start=1):
            session.add(
                LogChunk(
                    build_id=build_id,
                    seq=seq,
                    attempt=attempt,
                    stage=stage,
                    text=text,
                    unterminated=not text.endswith("\n"),
                )
            )


def numbered(first: int, last: int) -> str:
    return "".join(f"line {n}\n" for n in range(first, last + 1))


def test_the_outline_cuts_sections_at_each_stage_and_attempt(engine: Engine) -> None:
    build_id = make_build(engine, "acme/outline", status=BuildStatus.PASSED)
    store(
        engine,
        build_id,
        [
            (1, None, "cloning\n"),
            (1, "build", numbered(2, 4)),
            (1, "build", numbered(5, 5)),
            (2, None, "cloning again\n"),
            (2, "build", numbered(7, 9)),
        ],
    )
    shape = outline(engine, build_id)
    got = [(s.attempt, s.stage, s.first_line, s.last_line) for s in shape.sections]
    assert got == [(1, None, 1, 1), (1, "build", 2, 5), (2, None, 6, 6), (2, "build", 7, 9)]
    assert shape.total == 9 and shape.last_seq == 5
    lines = read_lines(engine, build_id, 4, 7)
    assert [(line.number, line.section, line.text) for line in lines] == [
        (4, 1, "line 4"),
        (5, 1, "line 5"),
        (6, 2, "cloning again"),
        (7, 3, "line 7"),
    ]
    assert read_lines(engine, build_id, 9, 50)[-1].text == "line 9"
    assert (
        read_lines(engine, build_id, 10, 20) == []
        and read_lines(engine, build_id, -5, 1)[0].number == 1
    )


def test_a_long_log_opens_at_its_tail_with_the_same_queries_as_a_short_one(
    signed_in: FlaskClient,  # noqa: F811
    engine: Engine,
) -> None:
    short = make_build(engine, "acme/short", status=BuildStatus.PASSED)
    store(engine, short, [(1, "test", numbered(1, 3))])
    long = make_build(engine, "acme/long", status=BuildStatus.PASSED)
    total = 20_000
    store(
        engine,
        long,
        [(1, "set", numbered(1, 50))]
        + [(1, "test", numbered(n, min(n + 999, total))) for n in range(51, total + 1, 1000)],
    )
    with counted(engine) as few:
        assert signed_in.get(f"/builds/{short}").status_code == 200
    with counted(engine) as many:
        page = signed_in.get(f"/builds/{long}").get_data(as_text=True)
    assert len(many) == len(few), (few, many)
    shown = [int(n) for n in re.findall(r'<div class="ln" id="L(\d+)">', page)]
    assert shown == list(range(total - PAGE_LINES + 1, total + 1))
    assert f'data-total="{total}"' in page
    # the first section is in the page closed and empty; the second says what it holds
    assert re.search(
        r'id="sec-0"[^>]*data-first="1" data-last="50" data-lo="51" data-hi="50"', page
    )
    assert re.search(
        rf'id="sec-1"[^>]*data-first="51" data-last="{total}" '
        rf'data-lo="{total - PAGE_LINES + 1}" data-hi="{total}" open',
        page,
    )
    # earlier lines on demand, rendered, with their numbers and sections
    resp = signed_in.get(f"/builds/{long}/lines?first=40&last=60")
    data = resp.get_json()
    assert data["total"] == total
    assert [(x["n"], x["s"]) for x in data["lines"]][:2] == [(40, 0), (41, 0)]
    assert data["lines"][11] == {"n": 51, "s": 1, "html": "line 51"}
    assert (
        len(signed_in.get(f"/builds/{long}/lines?first=1&last=999999").get_json()["lines"]) == 5000
    )


def test_the_script_endpoints_answer_401_not_a_login_page(
    client: FlaskClient, engine: Engine
) -> None:
    build_id = make_build(engine, "acme/anon", status=BuildStatus.RUNNING)
    for path in ("lines", "state", "events"):
        resp = client.get(f"/builds/{build_id}/{path}")
        assert resp.status_code == 401, path


def test_the_state_re_renders_the_head_and_stages(
    signed_in: FlaskClient,  # noqa: F811
    engine: Engine,
) -> None:
    build_id = make_build(engine, "acme/state", status=BuildStatus.QUEUED)
    data = signed_in.get(f"/builds/{build_id}/state").get_json()
    assert data["status"] == "QUEUED" and data["finished"] is False
    assert "acme/state" in data["head"] and 'id="kill"' in data["head"]
    assert "No stages yet" in data["table"]
    assert signed_in.get("/builds/4242/state").status_code == 404


def test_the_event_stream_sends_rendered_lines_with_their_attempt(
    signed_in: FlaskClient,  # noqa: F811
    engine: Engine,
) -> None:
    build_id = make_build(engine, "acme/events", status=BuildStatus.FAILED)
    store(engine, build_id, [(2, "test", "\x1b[31mred\x1b[0m\n<b>\n")])
    body = signed_in.get(f"/builds/{build_id}/events").get_data(as_text=True)
    first = body.split("\n\n")[0]
    assert first.startswith("event: log\n")
    data = json.loads(first.split("data: ", 1)[1])
    assert data == {
        "seq": 1,
        "attempt": 2,
        "stage": "test",
        "lines": ['<span class="fg1">red</span>', "&lt;b&gt;"],
        "continues": False,
    }
