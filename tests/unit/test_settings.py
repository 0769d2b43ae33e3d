"""Settings come from the environment, with defaults that need nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocelot.errors import InvalidRequest
from ocelot.settings import load_settings


def test_defaults_need_nothing_but_a_home() -> None:
    s = load_settings({"HOME": "/h", "OCELOT_HOME": "/srv/oc"})
    assert s.home == Path("/srv/oc")
    assert s.database_url == "sqlite:////srv/oc/ocelot.db"
    assert s.broker_url == "redis://127.0.0.1:6379/0"
    assert s.worker_executor == "docker" and s.worker_tags == ()
    assert s.max_builds == 2 and s.keep_containers is False


def test_every_documented_variable_is_read() -> None:
    s = load_settings(
        {
            "OCELOT_HOME": "/x",
            "OCELOT_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "OCELOT_BROKER_URL": "redis://r:1/2",
            "OCELOT_PUBLIC_URL": "https://ci.example.com/",
            "OCELOT_SECRET_KEY": "k",
            "OCELOT_WORKER_NAME": "w1",
            "OCELOT_WORKER_TAGS": "mac, gpu ,",
            "OCELOT_WORKER_EXECUTOR": "LOCAL",
            "OCELOT_MAX_BUILDS": "4",
            "OCELOT_KEEP_CONTAINERS": "yes",
            "OCELOT_KILL_GRACE": "2.5",
            "VAULT_ADDR": "http://127.0.0.1:8200",
            "VAULT_TOKEN": "t",
        }
    )
    assert s.database_url.startswith("postgresql+psycopg://")
    assert s.public_url == "https://ci.example.com"
    assert s.worker_tags == ("mac", "gpu") and s.worker_executor == "local"
    assert s.max_builds == 4 and s.keep_containers and s.kill_grace_seconds == 2.5
    assert s.vault_addr == "http://127.0.0.1:8200" and s.secret_key == "k"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OCELOT_MAX_BUILDS", "two", "OCELOT_MAX_BUILDS must be a whole number"),
        ("OCELOT_WORKER_EXECUTOR", "podman", "must be 'docker' or 'local'"),
        ("OCELOT_KILL_GRACE", "soon", "OCELOT_KILL_GRACE must be a number"),
    ],
)
def test_bad_values_say_which_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        load_settings({"OCELOT_HOME": "/x", name: value})
