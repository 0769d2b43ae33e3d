"""Token roles (read < build < admin), expiry and revocation, the /api/v1/tokens routes, the
`ocelot admin tokens` commands, `/readyz` details and the bootstrap's token, against a real
database (SQLite and PostgreSQL) and Redis."""

from __future__ import annotations

import json
import os
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from ocelot import bootstrap
from ocelot.cli.main import cli
from ocelot.db import downgrade, make_engine, migrate, session_scope
from ocelot.errors import Conflict, InvalidRequest, Unauthorized
from ocelot.models import ApiToken, Build, Repo, utcnow
from ocelot.services.tokens import authenticate, create_token, digest, revoke_token
from ocelot.settings import Settings
from tests.servers import free_port
from web import create_app
from web.auth import required_role

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
_PARAMS = {
    "acct": "acme",
    "name": "demo",
    "ctype": "vcs",
    "identifier": "main",
    "ref": "1",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mint(engine: Engine, name: str, role: str, **kwargs: Any) -> str:
    with session_scope(engine) as session:
        return create_token(session, name, role=role, **kwargs)


def fill(rule: str, build_id: int) -> str:
    """A concrete path for a URL rule: the repo and build made by ``world``, else ``x``."""

    def value(match: re.Match[str]) -> str:
        converter, _, name = match.group(1).rpartition(":")
        if converter == "int" or name.endswith("_id") or name == "id":
            return str(build_id)
        return _PARAMS.get(name, "x")

    return re.sub(r"<([^>]+)>", value, rule)


def api_requests(app: Flask, build_id: int) -> list[tuple[str, str, str]]:
    """(method, rule, path) for every method of every /api/v1 rule but HEAD and OPTIONS."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, fill(rule.rule, build_id)))
    return found


def is_secret_route(rule: str) -> bool:
    return any(rule == p or rule.startswith(p + "/") for p in ("/api/v1/creds", "/api/v1/tokens"))


@pytest.fixture
def world(client: FlaskClient, auth: dict[str, str], engine: Engine) -> int:
    """Repo acme/demo with one build of a resolved commit; returns the build id."""
    resp = client.post("/api/v1/repos", headers=auth, json={"full_name": "acme/demo", "url": "/x"})
    assert resp.status_code == 201, resp.get_json()
    resp = client.post("/api/v1/repos/acme/demo/builds", headers=auth, json={"branch": "master"})
    assert resp.status_code == 201, resp.get_json()
    build_id = int(resp.get_json()["id"])
    with session_scope(engine) as session:
        session.get(Build, build_id).hash = "a" * 40  # type: ignore[union-attr]
    return build_id


def counts(engine: Engine) -> tuple[int, int, int]:
    with session_scope(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Repo)) or 0,
            session.scalar(select(func.count()).select_from(Build)) or 0,
            session.scalar(select(func.count()).select_from(ApiToken)) or 0,
        )


# -- roles over the API ----------------------------------------------------------------------


def test_a_read_token_reads_everything_but_credentials_and_tokens(
    app: Flask, client: FlaskClient, engine: Engine, world: int
) -> None:
    read = bearer(mint(engine, "reader", "read"))
    gets = [(m, r, p) for m, r, p in api_requests(app, world) if m == "GET"]
    assert len(gets) >= 10
    for _, rule, path in gets:
        resp = client.get(path, headers=read)
        if is_secret_route(rule):
            assert resp.status_code == 403, (path, resp.status_code)
            error = resp.get_json()["error"]
            assert error["code"] == "forbidden" and error["required_role"] == "admin"
            assert error["message"] == "this needs a token with role 'admin' (yours is 'read')"
            assert "credentials" not in resp.get_json() and "tokens" not in resp.get_json()
        else:
            assert resp.status_code not in (401, 403), (path, resp.status_code)
            assert resp.status_code < 500, (path, resp.status_code)
    assert client.get("/api/v1/repos/acme/demo", headers=read).status_code == 200
    assert client.get(f"/api/v1/builds/{world}", headers=read).status_code == 200
    assert client.get("/api/v1/whoami", headers=read).get_json()["token"]["name"] == "reader"


def test_a_read_token_is_refused_every_write(
    app: Flask, client: FlaskClient, engine: Engine, world: int
) -> None:
    read = bearer(mint(engine, "reader", "read"))
    writes = [(m, r, p) for m, r, p in api_requests(app, world) if m not in READ_METHODS]
    assert {("POST", "/api/v1/repos"), ("POST", "/api/v1/builds/<int:build_id>/kill")} <= {
        (m, r) for m, r, _ in writes
    }
    before = counts(engine)
    with session_scope(engine) as session:
        status = session.get(Build, world).status  # type: ignore[union-attr]
    for method, rule, path in writes:
        resp = client.open(path, method=method, headers=read, json={"full_name": "a/b"})
        assert resp.status_code == 403, (method, path, resp.status_code)
        error = resp.get_json()["error"]
        assert error["code"] == "forbidden", (method, path)
        assert error["required_role"] == required_role(method, rule) != "read", (method, path)
        assert error["role"] == "read"
    assert counts(engine) == before
    with session_scope(engine) as session:
        assert session.get(Build, world).status == status  # type: ignore[union-attr]


def test_a_build_token_builds_but_does_not_administer(
    client: FlaskClient, engine: Engine, world: int
) -> None:
    build = bearer(mint(engine, "ci-bot", "build"))
    resp = client.post("/api/v1/repos/acme/demo/builds", headers=build, json={"branch": "dev"})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["triggered_by"] == "ci-bot"
    new_id = resp.get_json()["id"]
    assert client.post(f"/api/v1/builds/{world}/rebuild", headers=build).status_code == 201
    resp = client.post(f"/api/v1/builds/{new_id}/kill", headers=build)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "KILLED"
    assert client.get("/api/v1/builds", headers=build).status_code == 200
    refused = [
        ("POST", "/api/v1/repos", {"full_name": "acme/other", "url": "/y"}),
        ("DELETE", "/api/v1/repos/acme/demo", None),
        ("PUT", "/api/v1/repos/acme/demo/poll", {"cron": "* * * * *", "branches": "master"}),
        ("DELETE", "/api/v1/repos/acme/demo/poll", None),
        ("POST", "/api/v1/repos/acme/demo/watch", {}),
        ("DELETE", "/api/v1/repos/acme/demo/watch", None),
        ("POST", "/api/v1/repos/discover", {"acct": "acme", "forge": "github"}),
        ("GET", "/api/v1/creds", None),
        ("POST", "/api/v1/creds/vcs", {"acct": "acme", "identifier": "x"}),
        ("GET", "/api/v1/tokens", None),
        ("POST", "/api/v1/tokens", {"name": "mine", "role": "admin"}),
    ]
    for method, path, body in refused:
        resp = client.open(path, method=method, headers=build, json=body)
        assert resp.status_code == 403, (method, path, resp.status_code)
        assert resp.get_json()["error"]["required_role"] == "admin"
        assert "(yours is 'build')" in resp.get_json()["error"]["message"]
    assert client.get("/api/v1/repos/acme/demo", headers=build).status_code == 200


def test_an_admin_token_does_everything(
    client: FlaskClient, engine: Engine, world: int, auth: dict[str, str]
) -> None:
    assert client.get("/api/v1/creds", headers=auth).status_code == 200
    assert client.get("/api/v1/tokens", headers=auth).status_code == 200
    assert client.post(f"/api/v1/builds/{world}/kill", headers=auth).status_code == 200
    resp = client.post("/api/v1/repos", headers=auth, json={"full_name": "acme/b", "url": "/b"})
    assert resp.status_code == 201
    assert client.delete("/api/v1/repos/acme/b", headers=auth).status_code == 204


def test_an_expired_token_is_a_401(client: FlaskClient, engine: Engine) -> None:
    token = mint(engine, "shortlived", "admin", expires_at=utcnow() + timedelta(hours=1))
    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
    with session_scope(engine) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "shortlived"))
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    for path in ("/api/v1/whoami", "/api/v1/repos"):
        resp = client.get(path, headers=bearer(token))
        assert resp.status_code == 401
        assert resp.get_json()["error"] == {"code": "unauthorized", "message": "token expired"}
    with session_scope(engine) as session, pytest.raises(Unauthorized, match="expired"):
        authenticate(session, token)


def test_a_revoked_token_is_a_401_and_says_no_more_than_an_unknown_one(
    client: FlaskClient, engine: Engine, auth: dict[str, str]
) -> None:
    victim = mint(engine, "victim", "build")
    assert client.get("/api/v1/whoami", headers=bearer(victim)).status_code == 200
    with session_scope(engine) as session:
        victim_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "victim"))
    resp = client.delete(f"/api/v1/tokens/{victim_id}", headers=auth)
    assert resp.status_code == 200, resp.get_json()
    [shown] = resp.get_json()["tokens"]
    assert shown["state"] == "revoked" and shown["revoked_at"]
    revoked = client.get("/api/v1/whoami", headers=bearer(victim))
    unknown = client.get("/api/v1/whoami", headers=bearer("oct_" + "x" * 43))
    assert revoked.status_code == unknown.status_code == 401
    assert revoked.get_json() == unknown.get_json()
    assert client.delete(f"/api/v1/tokens/{victim_id}", headers=auth).status_code == 409


# -- /api/v1/tokens --------------------------------------------------------------------------


def test_tokens_rest_create_list_revoke(client: FlaskClient, auth: dict[str, str]) -> None:
    resp = client.post(
        "/api/v1/tokens", headers=auth, json={"name": "dash", "role": "read", "expires": "30d"}
    )
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    token = created["token"]
    assert token.startswith("oct_") and created["prefix"] == token[:8]
    assert created["role"] == "read" and created["state"] == "live" and created["expires_at"]
    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
    assert client.post("/api/v1/repos", headers=bearer(token), json={}).status_code == 403

    resp = client.get("/api/v1/tokens", headers=auth)
    raw = resp.get_data(as_text=True)
    assert token not in raw and digest(token) not in raw and "hash" not in raw
    listed = {t["name"]: t for t in resp.get_json()["tokens"]}
    assert set(listed) == {"tester", "dash"}
    assert set(listed["dash"]) == {
        "id",
        "name",
        "prefix",
        "role",
        "state",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    }
    assert listed["dash"]["last_used_at"] is not None and listed["tester"]["role"] == "admin"

    dup = client.post("/api/v1/tokens", headers=auth, json={"name": "dash", "role": "admin"})
    assert dup.status_code == 409
    for bad in (
        {"name": "x"},
        {"name": "x", "role": "root"},
        {"name": "x", "role": "read", "expires": "2001-01-01"},
        {"name": "x", "role": "read", "expires": "whenever"},
        {"role": "read"},
        {"name": "123", "role": "read"},
    ):
        resp = client.post("/api/v1/tokens", headers=auth, json=bad)
        assert resp.status_code == 400, (bad, resp.get_json())

    assert client.delete("/api/v1/tokens/dash", headers=auth).status_code == 200
    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 401
    assert client.delete("/api/v1/tokens/nosuch", headers=auth).status_code == 404
    # The name is free again once its token is revoked.
    again = client.post("/api/v1/tokens", headers=auth, json={"name": "dash", "role": "build"})
    assert again.status_code == 201


def test_names_are_unique_among_live_tokens_and_revoke_finds_by_name_id_prefix(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        first = create_token(session, "ci", role="build")
        with pytest.raises(Conflict):
            create_token(session, "ci", role="read")
        with pytest.raises(InvalidRequest):
            create_token(session, "oct_sneaky")
        with pytest.raises(InvalidRequest):
            create_token(session, "ci", role="superuser")
    with session_scope(engine) as session:
        [row] = revoke_token(session, first[:8])
        assert row.name == "ci" and row.revoked and row.revoked_at is not None
        second = create_token(session, "ci", role="read")
    with session_scope(engine) as session:
        row_id = session.scalar(select(ApiToken.id).where(ApiToken.token_hash == digest(second)))
        [row] = revoke_token(session, str(row_id))
        assert row.role == "read"
        with pytest.raises(Conflict):
            revoke_token(session, str(row_id))


def test_tokens_minted_before_roles_keep_working_as_admin(settings: Settings) -> None:
    downgrade(settings, "0005")
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO api_tokens (name, token_hash, prefix, created_at, revoked) "
                    "VALUES ('old', :h, 'oct_old_', CURRENT_TIMESTAMP, :f)"
                ),
                {"h": digest("oct_old_token"), "f": False},
            )
    finally:
        engine.dispose()
    migrate(settings)
    with session_scope(make_engine(settings)) as session:
        row = authenticate(session, "oct_old_token")
        assert row.role == "admin" and row.expires_at is None and row.revoked_at is None


# -- /readyz ---------------------------------------------------------------------------------


def test_readyz_without_a_token_says_only_ok_or_down(
    settings: Settings, engine: Engine, token: str
) -> None:
    down = settings.with_(broker_url=f"redis://127.0.0.1:{free_port()}/0")
    web = create_app(down).test_client()
    resp = web.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "down"},
    }
    for header in ("Bearer nope", "Basic abc", f"Bearer {token}x"):
        resp = web.get("/readyz", headers={"Authorization": header})
        assert resp.status_code == 503 and "details" not in resp.get_json()
        assert "127.0.0.1" not in resp.get_data(as_text=True)

    read = mint(engine, "monitor", "read")
    resp = web.get("/readyz", headers=bearer(read))
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["checks"] == {"database": "ok", "redis": "down"}
    assert body["details"]["database"] == "ok"
    assert body["details"]["redis"].startswith("unreachable")
    with session_scope(engine) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "monitor"))
        assert row is not None and row.last_used_at is None  # a probe is not a use
        revoke_token(session, "monitor")
    assert "details" not in web.get("/readyz", headers=bearer(read)).get_json()


def test_readyz_all_up(client: FlaskClient, auth: dict[str, str]) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    resp = client.get("/readyz", headers=auth)
    assert resp.get_json()["details"] == {"database": "ok", "redis": "ok"}


# -- ocelot admin tokens ---------------------------------------------------------------------


@pytest.fixture
def admin(settings: Settings, tmp_path: Path) -> Any:
    env = {
        "OCELOT_HOME": str(settings.home),
        "OCELOT_DATABASE_URL": settings.database_url,
        "OCELOT_BROKER_URL": settings.broker_url,
        "NO_COLOR": "1",
        "COLUMNS": "100",
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "OCELOT_CONFIG": None,
        "OCELOT_TOKEN": None,
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["admin", *args], env=env)  # type: ignore[arg-type]

    return invoke


def test_cli_tokens_create_list_revoke(admin: Any, engine: Engine) -> None:
    made = admin("tokens", "create", "dashboard", "--role", "read")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert re.fullmatch(r"oct_[A-Za-z0-9_-]{43}", token)
    assert "role read" in made.stderr and "will not be shown again" in made.stderr
    with session_scope(engine) as session:
        assert authenticate(session, token).role == "read"

    ci = admin("tokens", "create", "ci-bot", "--role", "BUILD", "--expires", "30d")
    assert ci.exit_code == 0, ci.output
    assert "expires 20" in ci.stderr
    with session_scope(engine) as session:
        row = authenticate(session, ci.stdout.strip())
        assert row.role == "build" and row.expires_at is not None
        assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)

    # the original spelling still mints an admin token, unless --role says otherwise
    old = admin("create-token", "me")
    assert old.exit_code == 0, old.output
    with session_scope(engine) as session:
        assert authenticate(session, old.stdout.strip()).role == "admin"
    small = admin("create-token", "viewer", "--role", "read")
    with session_scope(engine) as session:
        assert authenticate(session, small.stdout.strip()).role == "read"

    missing_role = admin("tokens", "create", "nobody")
    assert missing_role.exit_code == 2 and "--role" in missing_role.stderr
    dup = admin("tokens", "create", "dashboard", "--role", "admin")
    assert dup.exit_code == 1 and "already named 'dashboard'" in dup.stderr
    past = admin("tokens", "create", "late", "--role", "read", "--expires", "2001-01-01")
    assert past.exit_code == 1 and "not in the future" in past.stderr

    listed = admin("tokens", "list")
    assert listed.exit_code == 0, listed.output
    for expected in ("dashboard", "ci-bot", "viewer", "read", "build", "admin", token[:8]):
        assert expected in listed.stdout
    assert token not in listed.stdout and digest(token) not in listed.stdout
    assert "live" in listed.stdout and "revoked" not in listed.stdout

    gone = admin("tokens", "revoke", "dashboard")
    assert gone.exit_code == 0, gone.output
    assert "revoked token" in gone.stdout and "'dashboard'" in gone.stdout
    with session_scope(engine) as session, pytest.raises(Unauthorized):
        authenticate(session, token)
    with session_scope(engine) as session:
        ci_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "ci-bot"))
    assert admin("tokens", "revoke", str(ci_id)).exit_code == 0
    listed = admin("tokens", "list")
    assert listed.stdout.count("revoked") == 2
    live = admin("tokens", "list", "--live")
    assert "dashboard" not in live.stdout and "viewer" in live.stdout

    unknown = admin("tokens", "revoke", "nosuch")
    assert unknown.exit_code == 1 and "no unrevoked token" in unknown.stderr
    again = admin("tokens", "revoke", "dashboard")
    assert again.exit_code == 1


# -- bootstrap (make run) --------------------------------------------------------------------


@pytest.fixture
def boot_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        "OCELOT_HOME": str(settings.home),
        "OCELOT_DATABASE_URL": settings.database_url,
        "OCELOT_BROKER_URL": settings.broker_url,
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "HOME": str(tmp_path / "userhome"),
        "OCELOT_BIND": "127.0.0.1:5999",
    }


def config_of(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "ocelot" / "config.yml"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def nothing_in_home_holds(home: Path, token: str) -> None:
    for path in home.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_bootstrap_keeps_the_token_only_in_the_cli_config(
    boot_env: dict[str, str], engine: Engine, settings: Settings, capsys: Any
) -> None:
    assert bootstrap.main(boot_env) == 0
    config = config_of(boot_env)
    assert mode(config) == 0o600
    data = yaml.safe_load(config.read_text())
    token = data["token"]
    assert data["url"] == "http://127.0.0.1:5999"
    assert token in capsys.readouterr().err
    with session_scope(engine) as session:
        row = authenticate(session, token)
        assert row.role == "admin" and row.name == "local-admin"
    assert not (settings.home / "admin-token").exists()
    settings.home.mkdir(parents=True, exist_ok=True)
    nothing_in_home_holds(settings.home, token)
    if settings.database_url.startswith("sqlite"):
        db_file = Path(settings.database_url.removeprefix("sqlite:///"))
        assert token.encode() not in db_file.read_bytes()

    # A restart reuses the token and keeps the user's other keys and mode 600.
    data["colors"] = {"FAILED": "red"}
    config.write_text(yaml.safe_dump(data))
    os.chmod(config, 0o644)
    assert bootstrap.main(boot_env) == 0
    again = yaml.safe_load(config.read_text())
    assert again["token"] == token and again["colors"] == {"FAILED": "red"}
    assert mode(config) == 0o600
    assert token in capsys.readouterr().err
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 1


def test_bootstrap_replaces_a_token_that_no_longer_works(
    boot_env: dict[str, str], engine: Engine
) -> None:
    assert bootstrap.main(boot_env) == 0
    config = config_of(boot_env)
    first = yaml.safe_load(config.read_text())["token"]
    config.write_text(yaml.safe_dump({"url": "http://ci.example:8080", "token": "oct_bogus"}))
    assert bootstrap.main(boot_env) == 0
    data = yaml.safe_load(config.read_text())
    assert data["url"] == "http://ci.example:8080"  # other keys are the user's
    assert data["token"] not in ("oct_bogus", first)
    assert mode(config) == 0o600
    with session_scope(engine) as session:
        assert authenticate(session, data["token"]).role == "admin"
        # the lost local-admin token is revoked, so only one lives
        with pytest.raises(Unauthorized):
            authenticate(session, first)


def test_bootstrap_moves_an_old_admin_token_file_into_the_config(
    boot_env: dict[str, str], engine: Engine, settings: Settings
) -> None:
    old = mint(engine, "local-admin", "admin")
    settings.home.mkdir(parents=True, exist_ok=True)
    legacy = settings.home / "admin-token"
    legacy.write_text(old + "\n")
    assert bootstrap.main(boot_env) == 0
    assert not legacy.exists()
    config = config_of(boot_env)
    assert yaml.safe_load(config.read_text())["token"] == old and mode(config) == 0o600
    nothing_in_home_holds(settings.home, old)


def test_bootstrap_refuses_to_overwrite_a_broken_config(
    boot_env: dict[str, str], capsys: Any
) -> None:
    config = config_of(boot_env)
    config.parent.mkdir(parents=True)
    config.write_text("url: [unclosed\n")
    assert bootstrap.main(boot_env) == 1
    assert config.read_text() == "url: [unclosed\n"
    assert "not valid YAML" in capsys.readouterr().err


def test_bootstrap_honours_ocelot_config(boot_env: dict[str, str], tmp_path: Path) -> None:
    elsewhere = tmp_path / "my-config.yml"
    assert bootstrap.main({**boot_env, "OCELOT_CONFIG": str(elsewhere)}) == 0
    assert json.dumps(yaml.safe_load(elsewhere.read_text())).count("oct_") == 1
    assert not config_of(boot_env).exists()
