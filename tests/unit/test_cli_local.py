"""Offline commands: ``ocelot init`` and ``ocelot validate`` (with the real pipeline library)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ocelot.cli.main import cli
from ocelot.pipeline import STARTER_YML, schema_text

VALID = """\
image: ocelot/busybox
buildTool: shell
branches: [master, release/.*]
stages:
  - name: test
    script: [echo hi]
"""


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, input: str | None = None) -> Result:
        env = {"NO_COLOR": "1", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
        return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


def test_init_writes_the_starter_and_refuses_to_overwrite(run, tmp_path: Path) -> None:
    first = run("init")
    assert first.exit_code == 0 and "wrote ocelot.yml" in first.stdout
    assert (tmp_path / "ocelot.yml").read_text() == STARTER_YML
    (tmp_path / "ocelot.yml").write_text("mine\n")
    again = run("init")
    assert again.exit_code == 1
    assert again.stderr.startswith("Error: ocelot.yml already exists; not overwriting it")
    assert (tmp_path / "ocelot.yml").read_text() == "mine\n"
    assert run("init", "--force").exit_code == 0
    assert (tmp_path / "ocelot.yml").read_text() == STARTER_YML


def test_the_starter_validates(run) -> None:
    run("init")
    result = run("validate")
    assert (result.exit_code, result.stdout) == (0, "ocelot.yml is valid\n")


def test_validate_prints_every_issue_with_its_line(run, tmp_path: Path) -> None:
    (tmp_path / "ocelot.yml").write_text(
        "image: x\nbuildTool: shell\nstages:\n  - name: a\n    script: 3\n  - script: [ls]\n"
    )
    result = run("validate")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "ocelot.yml:5: stages[0].script: expected a list, got number 3" in lines
    assert any(line.startswith("ocelot.yml:6: warning: stages[1].name: ") for line in lines)
    assert result.stderr == "Error: ocelot.yml is invalid (1 error, 1 warning)\n"


def test_validate_checks_the_branch(run, tmp_path: Path) -> None:
    (tmp_path / "ocelot.yml").write_text(VALID)
    ok = run("validate", "--branch", "release/1.2")
    assert (ok.exit_code, ok.stdout) == (0, "ocelot.yml is valid\nbranch release/1.2 would build\n")
    refused = run("validate", "--branch", "wip")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "Error: branch wip not in the acceptable branches list: master, release/.*\n"
    )


def test_validate_names_the_file_it_read_and_reads_stdin(run, tmp_path: Path) -> None:
    (tmp_path / "ci.yml").write_text("image: x\n")
    result = run("validate", "ci.yml")
    assert result.exit_code == 1 and result.stdout.startswith("ci.yml")
    piped = run("validate", "-", input=VALID)
    assert (piped.exit_code, piped.stdout) == (0, "<stdin> is valid\n")


def test_validate_without_a_file_suggests_init(run) -> None:
    result = run("validate")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: ocelot.yml not found (write a starter one with `ocelot init`)\n"
    )


def test_validate_schema_prints_the_json_schema(run) -> None:
    result = run("validate", "--schema")
    assert (result.exit_code, result.stdout) == (0, schema_text() + "\n")
