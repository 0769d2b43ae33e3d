"""One forge registry (``ocelot.forges``): every name maps to its client, the CLI and the
server take their choices from it, and every forge keeps the ``parse`` contract (a list of
events, never empty, or an Ignored)."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from ocelot import forges
from ocelot.cli.commands.creds import creds
from ocelot.cli.commands.repos import repos
from ocelot.errors import NotFound
from ocelot.forges import Event, Ignored
from ocelot.settings import load_settings
from tests.fakes.webhooks import EVENTS, body, event_headers


def test_every_name_has_its_client() -> None:
    assert forges.FORGE_NAMES == ("github", "gitlab", "bitbucket", "git")
    assert forges.VCS_TYPES == forges.FORGE_NAMES
    assert forges.WEBHOOK_FORGES == ("github", "gitlab", "bitbucket")
    for name in forges.FORGE_NAMES:
        client = forges.get_forge(name, token="t-1234")
        assert client.name == name and forges.forge_class(name).name == name
        user = forges.token_user(name)
        assert client.clone_credentials() == ((user, "t-1234") if user else None)
    with pytest.raises(NotFound, match="unknown forge 'svn'"):
        forges.get_forge("svn")


def test_api_roots_come_from_settings() -> None:
    settings = load_settings(
        {
            "OCELOT_GITHUB_API_URL": "https://ghe.example/api/v3",
            "OCELOT_GITLAB_API_URL": "https://gl.example/api/v4",
            "OCELOT_BITBUCKET_API_URL": "https://bb.example/2.0",
        }
    )
    assert [forges.api_url(settings, n) for n in forges.FORGE_NAMES] == [
        "https://ghe.example/api/v3",
        "https://gl.example/api/v4",
        "https://bb.example/2.0",
        "",
    ]


def _choices(command: click.Command, name: str) -> tuple[str, ...]:
    [param] = [p for p in command.params if p.name == name]
    return tuple(getattr(param.type, "choices", ()))


def test_the_cli_offers_the_registry_names() -> None:
    assert _choices(repos.commands["add"], "vcs_type") == forges.VCS_TYPES
    assert _choices(repos.commands["discover"], "forge") == forges.WEBHOOK_FORGES
    vcs = creds.commands["vcs"]
    assert isinstance(vcs, click.Group)
    assert _choices(vcs.commands["add"], "forge") == forges.FORGE_NAMES


def test_importing_the_registry_loads_no_http_client() -> None:
    code = "import sys, ocelot.forges; print('requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("fixture", sorted(EVENTS))
def test_parse_returns_a_list_of_events_or_an_ignored(fixture: str) -> None:
    """The contract every forge keeps (Bitbucket may move several refs in one push)."""
    forge = forges.get_forge(fixture.split("/")[0])
    found = forge.parse(event_headers(fixture), json.loads(body(fixture)))
    if not isinstance(found, Ignored):
        assert isinstance(found, list) and found, fixture
        assert all(isinstance(event, Event) for event in found), fixture


def test_plain_git_ignores_every_delivery() -> None:
    found = forges.get_forge("git").parse({}, {})
    assert isinstance(found, Ignored) and "no webhooks" in found.reason
