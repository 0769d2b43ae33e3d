"""``/api/v1/creds`` and ``ocelot creds`` against a real app, database and HTTP port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from ocelot.cli.main import cli
from ocelot.settings import Settings
from tests.functional import secret_stores
from tests.servers import free_port
from web import create_app

fake_vault = secret_stores.fake_vault
store_settings = secret_stores.store_settings

PASSWORD = "hunter2-registry"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAkeymaterial\n-----END OPENSSH PRIVATE KEY-----\n"
DOCKER = {"repo_type": "docker", "url": "127.0.0.1:5000", "username": "ci"}


@pytest.fixture
def store_app(store_settings: Settings) -> Flask:
    app = create_app(store_settings)
    app.testing = True
    return app


@pytest.fixture
def api(store_app: Flask) -> FlaskClient:
    return store_app.test_client()


def test_rest_add_list_conflict_overwrite_delete(api: FlaskClient, auth: dict[str, str]) -> None:
    body = {"acct": "acme", "identifier": "reg", **DOCKER, "password": PASSWORD}
    resp = api.post("/api/v1/creds/repo", headers=auth, json=body)
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["secrets"] == {"password": "*****"} and created["on_file"] is True
    resp = api.post("/api/v1/creds/repo", headers=auth, json=body)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "conflict"
    assert PASSWORD not in resp.get_data(as_text=True)
    resp = api.post("/api/v1/creds/repo", headers=auth, json={**body, "overwrite": True})
    assert resp.status_code == 200
    for url in ("/api/v1/creds", "/api/v1/creds/repo?acct=acme", "/api/v1/creds/repo/acme/reg"):
        resp = api.get(url, headers=auth)
        assert resp.status_code == 200 and PASSWORD not in resp.get_data(as_text=True)
    [listed] = api.get("/api/v1/creds?type=repo", headers=auth).get_json()["credentials"]
    assert listed["fields"] == DOCKER and listed["identifier"] == "reg"
    assert api.get("/api/v1/creds?acct=other", headers=auth).get_json() == {"credentials": []}
    assert api.delete("/api/v1/creds/repo/acme/reg", headers=auth).status_code == 204
    assert api.delete("/api/v1/creds/repo/acme/reg", headers=auth).status_code == 404
    assert api.get("/api/v1/creds/repo/acme/reg", headers=auth).status_code == 404


def test_rest_refuses_bad_input_and_strangers(api: FlaskClient, auth: dict[str, str]) -> None:
    resp = api.post("/api/v1/creds/bogus", headers=auth, json={"acct": "a", "identifier": "b"})
    assert resp.status_code == 400
    resp = api.post("/api/v1/creds/env", headers=auth, json={"identifier": "X", "value": "v"})
    assert resp.status_code == 400 and "acct" in resp.get_json()["error"]["message"]
    assert api.get("/api/v1/creds").status_code == 401
    assert api.post("/api/v1/creds/env", json={}).status_code == 401


@pytest.fixture
def server_url(store_app: Flask) -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, store_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture
def ocelot(server_url: str, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    env = {
        "OCELOT_URL": server_url,
        "OCELOT_TOKEN": token,
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "COLUMNS": "120",
    }

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    return run


def test_cli_add_prompts_hidden_and_list_shows_no_secret(ocelot: Any) -> None:
    args = [
        "creds",
        "repo",
        "add",
        "acme",
        "reg",
        "--repo-type",
        "docker",
        "--url",
        "127.0.0.1:5000",
    ]
    result = ocelot(*args, "--username", "ci", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "added repo credential 'reg' of acme" in result.output
    assert PASSWORD not in result.output  # the prompt does not echo
    result = ocelot("creds", "repo", "list")
    assert result.exit_code == 0 and PASSWORD not in result.output
    assert "password: *****" in result.output and "url=127.0.0.1:5000" in result.output
    result = ocelot(*args, "--username", "ci", "--password", "other-pass", input="n\n")
    assert result.exit_code == 1 and "exists; overwrite it?" in result.output
    result = ocelot(*args, "--username", "ci", "--password", "other-pass", input="y\n")
    assert result.exit_code == 0 and "replaced repo credential" in result.output
    result = ocelot(*args, "--username", "ci2", "--password", "third-pass", "--yes")
    assert result.exit_code == 0 and "replaced" in result.output
    assert "username=ci2" in ocelot("creds", "repo", "list", "acme").output
    result = ocelot("creds", "repo", "delete", "acme", "reg", "--yes")
    assert result.exit_code == 0
    assert "no repo credentials" in ocelot("creds", "repo", "list").output


def test_cli_credfile_with_an_ssh_key_file_and_env(ocelot: Any, tmp_path: Path) -> None:
    (tmp_path / "id_deploy").write_text(KEY)
    (tmp_path / "creds.yml").write_text(
        "credentials:\n"
        "  - {acct: acme, identifier: deploy, key_file: id_deploy}\n"
        "  - {acct: acme, identifier: backup, key-file: id_deploy}\n"
    )
    result = ocelot("creds", "ssh", "add", "--credfile", str(tmp_path / "creds.yml"))
    assert result.exit_code == 0, result.output
    listed = ocelot("creds", "ssh", "list", "acme").output
    assert listed.count("private key on file") == 2 and "AAAAkeymaterial" not in listed
    result = ocelot("creds", "env", "add", "acme", "API_TOKEN", input="tok-12345\n")
    assert result.exit_code == 0, result.output
    listed = ocelot("creds", "env", "list").output
    assert "API_TOKEN" in listed and "value: *****" in listed and "tok-12345" not in listed
    result = ocelot("creds", "env", "add", "acme", "1BAD", "--value", "x1234")
    assert result.exit_code == 1 and "environment variable name" in result.output
    result = ocelot("creds", "ssh", "delete", "acme", "backup", input="y\n")
    assert result.exit_code == 0 and "deleted ssh credential 'backup'" in result.output
