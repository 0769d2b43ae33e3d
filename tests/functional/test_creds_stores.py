"""What is special to each backend: the database key, and Vault's token handling."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.errors import DependencyUnavailable, SecretError
from ocelot.models import SecretValue
from ocelot.secrets import check_secret_store, open_backend
from ocelot.secrets.vault import reset_clients
from ocelot.services import credentials as creds
from ocelot.settings import Settings
from tests.fakes.vault import FakeVault
from tests.functional import secret_stores
from tests.servers import free_port

fake_vault = secret_stores.fake_vault

ENV = {"value": "the-env-secret"}


def _add(settings: Settings, engine: Engine, name: str = "API_KEY") -> None:
    with session_scope(engine) as session:
        creds.add_credential(session, settings, "acme", "env", name, ENV)


def test_a_passphrase_key_works_and_the_ciphertext_holds_no_secret(
    settings: Settings, engine: Engine
) -> None:
    keyed = settings.with_(secret_key="correct horse battery staple")
    _add(keyed, engine)
    with session_scope(engine) as session:
        [row] = session.scalars(select(SecretValue)).all()
        assert "the-env-secret" not in row.ciphertext and row.path == "acme/env/API_KEY"
        assert creds.get_secret(session, keyed, "acme", "env", "API_KEY") == ENV
    check_secret_store(keyed, engine)


def test_start_up_refuses_a_missing_or_wrong_key_with_a_clear_message(
    settings: Settings, engine: Engine
) -> None:
    check_secret_store(settings, engine)  # nothing stored: no key needed yet
    with session_scope(engine) as session, pytest.raises(SecretError) as err:
        creds.add_credential(session, settings, "acme", "env", "X_KEY", ENV)
    assert "OCELOT_SECRET_KEY is not set" in err.value.message
    key = Fernet.generate_key().decode()
    _add(settings.with_(secret_key=key), engine)
    with pytest.raises(SecretError) as err:
        check_secret_store(settings, engine)
    assert "1 credential value(s) are stored" in err.value.message
    assert "OCELOT_SECRET_KEY is not set" in err.value.message
    wrong = settings.with_(secret_key=Fernet.generate_key().decode())
    with pytest.raises(SecretError) as err:
        check_secret_store(wrong, engine)
    assert "OCELOT_SECRET_KEY does not decrypt the stored credentials" in err.value.message
    assert err.value.__cause__ is None and err.value.__suppress_context__
    with session_scope(engine) as session, pytest.raises(SecretError):
        creds.get_secret(session, wrong, "acme", "env", "API_KEY")
    with session_scope(engine) as session, pytest.raises(SecretError):
        # a second key must not sneak in next to the first one
        creds.add_credential(session, wrong, "acme", "env", "OTHER", ENV)
    check_secret_store(settings.with_(secret_key=key), engine)


def test_a_row_moved_to_another_path_does_not_decrypt_as_that_credential(
    settings: Settings, engine: Engine
) -> None:
    keyed = settings.with_(secret_key=Fernet.generate_key().decode())
    _add(keyed, engine, "ONE")
    _add(keyed, engine, "TWO")
    with session_scope(engine) as session:
        one, two = session.scalars(select(SecretValue).order_by(SecretValue.id)).all()
        two.ciphertext = one.ciphertext
    with session_scope(engine) as session, pytest.raises(SecretError) as err:
        creds.get_secret(session, keyed, "acme", "env", "TWO")
    assert "belongs to another path" in err.value.message


def _vault(settings: Settings, vault: FakeVault, **changes: object) -> Settings:
    return settings.with_(vault_addr=vault.url, **changes)


def test_vault_re_reads_the_token_file_when_the_token_expires(
    settings: Settings, engine: Engine, fake_vault: FakeVault, tmp_path: Path
) -> None:
    token_file = tmp_path / "vault-token"
    token_file.write_text("root-token\n")
    vs = _vault(settings, fake_vault, vault_token_file=str(token_file))
    _add(vs, engine)
    fake_vault.expire("root-token")
    fake_vault.add_token("rotated-token")
    token_file.write_text("rotated-token\n")  # e.g. Vault Agent wrote a fresh one
    with session_scope(engine) as session:
        assert creds.get_secret(session, vs, "acme", "env", "API_KEY") == ENV
    assert ("GET", "/v1/secret/data/ocelot/acme/env/API_KEY") in fake_vault.requests
    check_secret_store(vs, engine)


def test_vault_says_clearly_when_the_token_is_refused(
    settings: Settings, engine: Engine, fake_vault: FakeVault
) -> None:
    vs = _vault(settings, fake_vault, vault_token="root-token")
    _add(vs, engine)
    fake_vault.expire("root-token")
    with session_scope(engine) as session, pytest.raises(SecretError) as err:
        creds.get_secret(session, vs, "acme", "env", "API_KEY")
    assert "refused the token from VAULT_TOKEN" in err.value.message
    assert "root-token" not in err.value.message
    with pytest.raises(SecretError):
        check_secret_store(vs, engine)
    reset_clients()
    with pytest.raises(SecretError) as err:
        check_secret_store(settings.with_(vault_addr=fake_vault.url), engine)
    assert "no Vault token" in err.value.message


def test_vault_renews_a_token_about_to_expire(
    settings: Settings, engine: Engine, fake_vault: FakeVault
) -> None:
    fake_vault.add_token("short-lived", ttl=30)
    vs = _vault(settings, fake_vault, vault_token="short-lived")
    _add(vs, engine)
    assert fake_vault.tokens["short-lived"]["renewed"] == 1


def test_vault_unreachable_is_a_dependency_error(settings: Settings, engine: Engine) -> None:
    vs = settings.with_(vault_addr=f"http://127.0.0.1:{free_port()}", vault_token="t")
    with session_scope(engine) as session, pytest.raises(DependencyUnavailable) as err:
        open_backend(vs, session).read("acme/env/X")
    assert "unreachable" in err.value.message
    reset_clients()
