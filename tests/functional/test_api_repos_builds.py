"""Repos and builds through the REST API against a real database and Redis."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

from tests.servers import RedisServer


def add_repo(client: FlaskClient, auth: dict[str, str], name: str = "acme/demo") -> dict:
    resp = client.post(
        "/api/v1/repos", headers=auth, json={"full_name": name, "url": "/tmp/nowhere"}
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_repos_add_list_get_remove(client: FlaskClient, auth: dict[str, str]) -> None:
    repo = add_repo(client, auth)
    assert repo["full_name"] == "acme/demo" and repo["vcs_type"] == "git"
    assert (
        client.post(
            "/api/v1/repos", headers=auth, json={"full_name": "acme/demo", "url": "x"}
        ).status_code
        == 409
    )
    names = [r["full_name"] for r in client.get("/api/v1/repos", headers=auth).get_json()["repos"]]
    assert names == ["acme/demo"]
    assert client.get("/api/v1/repos/acme/demo", headers=auth).status_code == 200
    assert client.delete("/api/v1/repos/acme/demo", headers=auth).status_code == 204
    resp = client.get("/api/v1/repos/acme/demo", headers=auth)
    assert resp.status_code == 404
    assert resp.get_json()["error"] == {
        "code": "not_tracked",
        "message": "acme/demo isn't tracked by ocelot",
        "repo": "acme/demo",
    }


def test_bad_input_is_a_400_with_a_message(client: FlaskClient, auth: dict[str, str]) -> None:
    resp = client.post(
        "/api/v1/repos", headers=auth, data="{not json", content_type="application/json"
    )
    assert resp.status_code == 400
    resp = client.post("/api/v1/repos", headers=auth, json={"full_name": "nosplash", "url": "u"})
    assert resp.status_code == 400
    assert "ACCT/REPO" in resp.get_json()["error"]["message"]
    add_repo(client, auth)
    resp = client.post("/api/v1/repos/acme/demo/builds", headers=auth, json={})
    assert resp.status_code == 400


def test_oversized_body_is_a_413(client: FlaskClient, auth: dict[str, str], settings) -> None:
    body = json.dumps({"full_name": "a/b", "url": "x" * settings.max_body_bytes})
    resp = client.post("/api/v1/repos", headers=auth, data=body, content_type="application/json")
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "payload_too_large"


def test_build_on_untracked_repo_is_not_tracked(client: FlaskClient, auth: dict[str, str]) -> None:
    resp = client.post("/api/v1/repos/acme/ghost/builds", headers=auth, json={"branch": "master"})
    assert resp.status_code == 404
    assert resp.get_json()["error"]["message"] == "acme/ghost isn't tracked by ocelot"


def test_create_build_is_queued_and_published_after_commit(
    client: FlaskClient, auth: dict[str, str], redis_server: RedisServer
) -> None:
    import redis

    add_repo(client, auth)
    resp = client.post(
        "/api/v1/repos/acme/demo/builds",
        headers={**auth, "X-Ocelot-Client": "cli"},
        json={"branch": "master"},
    )
    assert resp.status_code == 201
    build = resp.get_json()
    assert build["status"] == "QUEUED" and build["trigger"] == "cli"
    assert build["triggered_by"] == "tester" and build["queued_at"]
    # The wake-up message for the pipeline is in Redis, on the control queue.
    r = redis.Redis.from_url(redis_server.url)
    messages = [json.loads(m) for m in r.lrange("control", 0, -1)]
    assert any(
        m["headers"]["task"] == "ocelot.builds.route"
        and m["headers"]["argsrepr"] == f"[{build['id']}]"
        for m in messages
    )
    r.delete("control")
    got = client.get(f"/api/v1/builds/{build['id']}", headers=auth).get_json()
    assert got["id"] == build["id"] and got["stages"] == []
    listed = client.get("/api/v1/builds?repo=acme/demo", headers=auth).get_json()["builds"]
    assert [b["id"] for b in listed] == [build["id"]]


def test_kill_a_queued_build_then_409(client: FlaskClient, auth: dict[str, str]) -> None:
    add_repo(client, auth)
    build = client.post(
        "/api/v1/repos/acme/demo/builds", headers=auth, json={"branch": "master"}
    ).get_json()
    killed = client.post(f"/api/v1/builds/{build['id']}/kill", headers=auth)
    assert killed.status_code == 200
    assert killed.get_json()["status"] == "KILLED"
    again = client.post(f"/api/v1/builds/{build['id']}/kill", headers=auth)
    assert again.status_code == 409
    assert "already finished" in again.get_json()["error"]["message"]


def test_unknown_build_is_404(client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.get("/api/v1/builds/999", headers=auth).status_code == 404
    assert client.get("/api/v1/builds/999/logs", headers=auth).status_code == 404


def test_openapi_lists_the_routes(client: FlaskClient, auth: dict[str, str]) -> None:
    doc = client.get("/api/v1/openapi.json", headers=auth).get_json()
    assert doc["openapi"].startswith("3.")
    assert "post" in doc["paths"]["/api/v1/repos/{acct}/{name}/builds"]
