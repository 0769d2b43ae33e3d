"""Builds and their pipeline through the REST API and the dashboard's repository page, against
a real database (SQLite and PostgreSQL): create a build of one pipeline, list and filter by
pipeline, refuse a bad name with a message, and show the pipeline column and filter."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from ocelot.status import BuildStatus
from tests.functional.test_dashboard import make_build, mint, sign_in


def add_repo(client: FlaskClient, auth: dict[str, str], name: str = "acme/app") -> None:
    resp = client.post("/api/v1/repos", headers=auth, json={"full_name": name, "url": "/tmp/x"})
    assert resp.status_code == 201, resp.get_json()


def test_a_build_of_one_pipeline_is_created_listed_and_filtered(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    add_repo(client, auth)
    event = client.post("/api/v1/repos/acme/app/builds", headers=auth, json={"branch": "master"})
    assert event.status_code == 201
    first = event.get_json()
    assert (first["pipeline"], first["event_id"]) == ("default", None)  # route adds the rest
    assert first["pending_reason"] == "waiting for the pipeline to read ocelot.yml"

    one = client.post(
        "/api/v1/repos/acme/app/builds",
        headers=auth,
        json={"branch": "master", "pipeline": "base-image"},
    )
    assert one.status_code == 201, one.get_json()
    alone = one.get_json()
    assert (alone["pipeline"], alone["event_id"]) == ("base-image", alone["id"])
    assert alone["pending_reason"] == "waiting for the pipeline to read .ocelot/base-image.yml"

    def listed(path: str) -> list[int]:
        resp = client.get(path, headers=auth)
        assert resp.status_code == 200, resp.get_json()
        return [b["id"] for b in resp.get_json()["builds"]]

    assert listed("/api/v1/repos/acme/app/builds?pipeline=base-image") == [alone["id"]]
    assert listed("/api/v1/repos/acme/app/builds?pipeline=default") == [first["id"]]
    assert listed("/api/v1/builds?pipeline=base-image") == [alone["id"]]
    assert listed("/api/v1/builds?repo=acme/app&pipeline=nope") == []
    assert listed("/api/v1/builds") == [alone["id"], first["id"]]


def test_a_bad_pipeline_name_is_a_400_that_says_why(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    add_repo(client, auth)
    for body in ({"branch": "master", "pipeline": "Base Image"}, {"pipeline": "../x"}):
        resp = client.post("/api/v1/repos/acme/app/builds", headers=auth, json=body)
        assert resp.status_code == 400
        assert "is not a pipeline name" in resp.get_json()["error"]["message"]
    resp = client.post("/api/v1/repos/acme/app/builds", headers=auth, json={"pipeline": 3})
    assert resp.status_code == 400 and resp.get_json()["error"]["message"] == (
        "pipeline must be a string"
    )
    resp = client.get("/api/v1/builds?pipeline=-x", headers=auth)
    assert resp.status_code == 400
    assert "'-x' is not a pipeline name" in resp.get_json()["error"]["message"]


def test_the_repo_page_shows_and_filters_the_pipeline(client: FlaskClient, engine: Engine) -> None:
    app = make_build(engine, "acme/app", status=BuildStatus.PASSED)
    image = make_build(engine, "acme/app", status=BuildStatus.FAILED, pipeline="base-image")
    sign_in(client, mint(engine, "reader", role="read"))

    def rows(query: str) -> tuple[list[int], str]:
        page = client.get(f"/repos/acme/app{query}").get_data(as_text=True)
        return [int(n) for n in re.findall(r'class="build-row" data-build="(\d+)"', page)], page

    ids, page = rows("")
    assert ids == [image, app]
    assert "<th>pipeline</th>" in page and "<td>base-image</td>" in page
    assert 'name="pipeline" id="f-pipeline"' in page
    assert rows("?pipeline=base-image")[0] == [image]
    assert rows("?pipeline=default&status=PASSED")[0] == [app]
    none, page = rows("?pipeline=docs")
    assert none == [] and "match these filters" in page
    build_page = client.get(f"/builds/{image}").get_data(as_text=True)
    assert "<dt>pipeline</dt><dd>base-image</dd>" in build_page
