"""The secret backend contract, run against both backends on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.errors import Conflict, InvalidRequest, NotFound
from ocelot.models import Credential, SecretValue
from ocelot.secrets import check_secret_store, open_backend
from ocelot.services import credentials as creds
from ocelot.settings import Settings
from tests.functional import secret_stores

fake_vault = secret_stores.fake_vault
store_settings = secret_stores.store_settings

KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBfakefakefakefakefakefakefakefakefakefakefakefakefakeAAAA
-----END OPENSSH PRIVATE KEY-----"""


def test_write_read_exists_delete(store_settings: Settings, engine: Engine) -> None:
    with session_scope(engine) as session:
        backend = open_backend(store_settings, session)
        assert backend.name == ("vault" if store_settings.vault_addr else "database")
        backend.check()
        assert not backend.exists("acme/repo/hub")
        with pytest.raises(NotFound):
            backend.read("acme/repo/hub")
        backend.write("acme/repo/hub", {"password": "s3cr3t-ü", "multi": "a\nb\n"})
    with session_scope(engine) as session:
        backend = open_backend(store_settings, session)
        assert backend.exists("acme/repo/hub")
        assert backend.read("acme/repo/hub") == {"password": "s3cr3t-ü", "multi": "a\nb\n"}
        backend.write("acme/repo/hub", {"password": "second"})
        assert backend.read("acme/repo/hub") == {"password": "second"}
        backend.delete("acme/repo/hub")
        backend.delete("acme/repo/hub")  # idempotent
        assert not backend.exists("acme/repo/hub")
        with pytest.raises(NotFound):
            backend.read("acme/repo/hub")
        check_secret_store(store_settings, engine)


def test_credentials_service_keeps_secrets_out_of_sql_metadata(
    store_settings: Settings, engine: Engine
) -> None:
    data = {"repo_type": "docker", "url": "127.0.0.1:5000", "username": "u", "password": "hunter22"}
    with session_scope(engine) as session:
        row = creds.add_credential(session, store_settings, "acme", "repo", "reg", data)
        assert row.fields == {"repo_type": "docker", "url": "127.0.0.1:5000", "username": "u"}
        assert row.to_dict()["secrets"] == {"password": "*****"}
        assert "hunter22" not in repr(row.to_dict())
    with session_scope(engine) as session:
        with pytest.raises(Conflict) as err:
            creds.add_credential(session, store_settings, "acme", "repo", "reg", data)
        assert "hunter22" not in err.value.message
    with session_scope(engine) as session:
        assert creds.get_secret(session, store_settings, "acme", "repo", "reg") == data
        changed = {**data, "password": "newpass1"}
        creds.add_credential(
            session, store_settings, "acme", "repo", "reg", changed, overwrite=True
        )
    with session_scope(engine) as session:
        assert creds.get_secret(session, store_settings, "acme", "repo", "reg")["password"] == (
            "newpass1"
        )
        rows = creds.list_credentials(session, "acme", "repo")
        assert [r.identifier for r in rows] == ["reg"]
        assert creds.on_file(session, store_settings, rows[0])
        for stored in session.scalars(select(SecretValue)):
            assert "newpass1" not in stored.ciphertext and "hunter22" not in stored.ciphertext
    with session_scope(engine) as session:
        creds.delete_credential(session, store_settings, "acme", "repo", "reg")
    with session_scope(engine) as session:
        assert session.scalars(select(Credential)).all() == []
        assert not open_backend(store_settings, session).exists("acme/repo/reg")
        with pytest.raises(NotFound):
            creds.get_secret(session, store_settings, "acme", "repo", "reg")


def test_every_type_and_the_account_view(store_settings: Settings, engine: Engine) -> None:
    with session_scope(engine) as session:
        add = creds.add_credential
        add(
            session,
            store_settings,
            "acme",
            "vcs",
            "github",
            {"forge": "github", "token": "ghp_1234"},
        )
        add(session, store_settings, "acme", "ssh", "deploy", {"private_key": KEY})
        add(session, store_settings, "acme", "notify", "team", {"webhook_url": "https://hook/x1"})
        add(session, store_settings, "acme", "env", "API_TOKEN", {"value": "tok-9876\n"})
        add(session, store_settings, "other", "env", "API_TOKEN", {"value": "other-acct"})
    with session_scope(engine) as session:
        values = creds.account_secret_values(session, store_settings, "acme")
        assert sorted(values) == sorted(["ghp_1234", KEY + "\n", "https://hook/x1", "tok-9876"])
        notify = creds.get_secret(session, store_settings, "acme", "notify", "team")
        assert notify == {"webhook_url": "https://hook/x1"}
        assert [r.ctype for r in creds.list_credentials(session, "acme")] == [
            "env",
            "notify",
            "ssh",
            "vcs",
        ]
        assert len(creds.list_credentials(session, None, "env")) == 2


@pytest.mark.parametrize(
    ("ctype", "identifier", "data", "says"),
    [
        ("nope", "x", {}, "credential type must be one of"),
        ("env", "1BAD", {"value": "secret-value"}, "environment variable name"),
        ("repo", "r", {"repo_type": "docker", "url": "u", "username": "ci"}, "needs password"),
        ("repo", "r", {"repo_type": "docker", "url": "u", "password": "pw-1234"}, "needs username"),
        ("repo", "r", {"repo_type": "svn", "url": "u", "password": "pw-1234"}, "repo_type must"),
        ("vcs", "gh", {"token": "t-12345", "pasword": "typo-secret"}, "unknown field(s)"),
        ("ssh", "k", {"private_key": "not a key at all"}, "does not look like"),
        ("notify", "n", {"kind": "slack"}, "webhook_url or token"),
        ("env", "OK", {"value": 12345}, "must be a string"),
    ],
)
def test_bad_input_is_refused_without_echoing_secrets(
    store_settings: Settings, engine: Engine, ctype: str, identifier: str, data: dict, says: str
) -> None:
    with session_scope(engine) as session, pytest.raises(InvalidRequest) as err:
        creds.add_credential(session, store_settings, "acme", ctype, identifier, data)
    assert says in err.value.message
    for value in data.values():
        if isinstance(value, str) and len(value) >= 4 and value not in ("docker", "slack"):
            assert value not in err.value.message
