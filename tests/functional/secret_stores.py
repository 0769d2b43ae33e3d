"""Fixtures for the credential tests: both secret backends behind one parametrised fixture.

``store_settings`` is the functional tier's ``settings`` (a real, migrated SQLite or
PostgreSQL database) with either backend configured:

* ``database``: ``OCELOT_SECRET_KEY`` set to a fresh Fernet key;
* ``vault``: hvac against :class:`tests.fakes.vault.FakeVault` on loopback, or against a real
  Vault when ``OCELOT_TEST_VAULT_ADDR`` (and ``OCELOT_TEST_VAULT_TOKEN``) are set, e.g. a
  ``vault server -dev`` (see README, "Running the Vault tests against a real Vault").
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from ocelot.secrets.vault import reset_clients
from ocelot.settings import Settings
from tests.fakes.vault import FakeVault

REAL_VAULT = os.environ.get("OCELOT_TEST_VAULT_ADDR")


@pytest.fixture
def fake_vault() -> Iterator[FakeVault]:
    vault = FakeVault().start()
    yield vault
    vault.stop()
    reset_clients()


def vault_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    # A prefix of its own per test, so a shared real Vault needs no cleaning between tests.
    prefix = f"ocelot-test/{uuid.uuid4().hex[:12]}"
    if REAL_VAULT:
        token = os.environ.get("OCELOT_TEST_VAULT_TOKEN") or "root"
        return settings.with_(vault_addr=REAL_VAULT, vault_token=token, vault_prefix=prefix)
    vault: FakeVault = request.getfixturevalue("fake_vault")
    return settings.with_(vault_addr=vault.url, vault_token="root-token", vault_prefix=prefix)


@pytest.fixture(params=["database", "vault"])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    if request.param == "database":
        yield settings.with_(secret_key=Fernet.generate_key().decode())
    else:
        yield vault_settings(settings, request)
    reset_clients()
