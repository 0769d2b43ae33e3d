"""One credential spec (``ocelot.credtypes``) for the server and the CLI: for every type, what
the CLI asks for is exactly what the server requires, every field has a flag, and the scope
options exist only on the types a build receives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from ocelot.cli.commands.creds import creds, flag
from ocelot.cli.main import cli
from ocelot.credtypes import SCOPE_EVENTS, SCOPED_TYPES, TYPES, CredentialType, Field
from ocelot.errors import InvalidRequest
from ocelot.services import credentials, trust
from tests.unit.test_cli_client import FakeServer

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\n"


def sample(field: Field) -> str:
    if field.name == "private_key":
        return KEY
    return field.choices[0] if field.choices else f"{field.name}-value-1234"


def required_body(spec: CredentialType) -> dict[str, str]:
    body = {f.name: sample(f) for f in spec.fields if f.required}
    if spec.one_of:
        body[spec.one_of[0]] = sample(spec.field(spec.one_of[0]))
    return body


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        for ctype in TYPES:
            fake.json("POST", f"/api/v1/creds/{ctype}", {}, 201)
        yield fake


def add(server: FakeServer, tmp_path: Path, ctype: str, body: dict[str, str], stdin: str) -> Any:
    """``ocelot creds CTYPE add acme NAME`` with ``body`` as flags; the JSON it posted."""
    args = ["creds", ctype, "add", "acme", "NAME" if ctype == "env" else "name"]
    for name, value in body.items():
        field = TYPES[ctype].field(name)
        if field.from_file:
            path = tmp_path / name
            path.write_text(value)
            value = str(path)
        args += [flag(field), value]
    env = {"OCELOT_URL": server.url, "OCELOT_TOKEN": "t", "XDG_CONFIG_HOME": str(tmp_path)}
    result = CliRunner().invoke(cli, args, input=stdin, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    posted = server.seen[-1].body
    return {k: v for k, v in posted.items() if k not in ("acct", "identifier")}, result.output


@pytest.mark.parametrize("ctype", list(TYPES))
def test_the_cli_asks_for_exactly_what_the_server_requires(
    server: FakeServer, tmp_path: Path, ctype: str
) -> None:
    spec = TYPES[ctype]
    body = required_body(spec)
    credentials.check_fields(ctype, body)  # what the CLI is given without a prompt is enough
    posted, output = add(server, tmp_path, ctype, body, stdin="")
    assert posted == body and output.startswith("added ")
    for name in body:  # leave one out: the server refuses, and the CLI asks for it
        partial = {k: v for k, v in body.items() if k != name}
        with pytest.raises(InvalidRequest, match="needs"):
            credentials.check_fields(ctype, partial)
        field = spec.field(name)
        typed = sample(field)
        if field.from_file:
            (tmp_path / "typed").write_text(typed)
            typed = str(tmp_path / "typed")
        posted, output = add(server, tmp_path, ctype, partial, stdin=typed + "\n")
        assert name in output  # the prompt
        assert posted == body
        credentials.check_fields(ctype, posted)


def test_a_registry_login_needs_a_username_on_both_sides() -> None:
    """The CLI and the server used to disagree: docker and maven logins send a user."""
    assert TYPES["repo"].field("username").required
    login = {"repo_type": "docker", "url": "127.0.0.1:5000", "password": "pw-1234"}
    with pytest.raises(InvalidRequest, match="a repo credential needs username"):
        credentials.check_fields("repo", login)
    assert credentials.check_fields("repo", {**login, "username": "ci"})[0]["username"] == "ci"


@pytest.mark.parametrize("ctype", list(TYPES))
def test_every_field_has_a_flag_and_only_build_credentials_a_scope(ctype: str) -> None:
    group = creds.commands[ctype]
    assert isinstance(group, click.Group)
    command = group.commands["add"]
    options = {opt for p in command.params for opt in getattr(p, "opts", [])}
    assert {flag(f) for f in TYPES[ctype].fields} <= options
    assert ("--events" in options) == (ctype in SCOPED_TYPES)
    for field in TYPES[ctype].fields:
        [param] = [p for p in command.params if flag(field) in getattr(p, "opts", [])]
        choices = getattr(param.type, "choices", ())
        assert tuple(choices) == field.choices


def test_the_server_reads_the_same_spec() -> None:
    assert credentials.TYPES is TYPES
    assert credentials.SCOPED_TYPES == SCOPED_TYPES == ("repo", "ssh", "env")
    assert trust.SCOPE_EVENTS is SCOPE_EVENTS
    for ctype, spec in TYPES.items():
        unknown = {"not_a_field": "x"} | required_body(spec)
        with pytest.raises(InvalidRequest, match="unknown field"):
            credentials.check_fields(ctype, unknown)
