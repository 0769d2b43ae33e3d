"""``ocelot validate`` in a working tree with several pipelines: every file, the names, the
``depends_on`` graph (unknown pipelines, cycles with their path) and ``--branch``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ocelot.cli.main import cli


def pipeline(*extra: str, branches: str = "[ALL]") -> str:
    return "\n".join(
        [
            "image: ocelot/busybox",
            "buildTool: shell",
            f"branches: {branches}",
            *extra,
            "stages:",
            "  - name: a",
            "    script: [echo hi]",
            "",
        ]
    )


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".ocelot").mkdir()
    return tmp_path


def run(tree: Path, *args: str) -> Result:
    env = {"NO_COLOR": "1", "XDG_CONFIG_HOME": str(tree / "cfg")}
    return CliRunner().invoke(cli, ["validate", *args], env=env, catch_exceptions=False)


def test_every_pipeline_is_checked_and_named(tree: Path) -> None:
    (tree / "ocelot.yml").write_text(pipeline("depends_on: [base-image]"))
    (tree / ".ocelot" / "base-image.yml").write_text(
        pipeline("paths: [Dockerfile.base, 'requirements*.txt']")
    )
    result = run(tree)
    assert (result.exit_code, result.stdout) == (
        0,
        ".ocelot/base-image.yml is valid (pipeline base-image)\n"
        "ocelot.yml is valid (pipeline default)\n",
    )


def test_unknown_pipelines_cycles_bad_files_and_file_issues_are_all_reported(tree: Path) -> None:
    (tree / "ocelot.yml").write_text(pipeline("depends_on: [b]"))
    (tree / ".ocelot" / "a.yml").write_text(pipeline("depends_on: [default, ghost]"))
    (tree / ".ocelot" / "b.yml").write_text(pipeline("depends_on: [a]", "paths: ['x[']"))
    (tree / ".ocelot" / "Bad.yml").write_text(pipeline())
    (tree / ".ocelot" / "notes.md").write_text("hi\n")
    result = run(tree)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert ".ocelot/b.yml:5: paths[0]: glob 'x[': '[' is never closed with ']'" in lines
    assert (
        "pipelines: pipeline 'a' depends on 'ghost', which does not exist "
        "(pipelines: a, b, default)"
    ) in lines
    assert "pipelines: dependency cycle: a → default → b → a" in lines
    assert any(
        line.startswith(".ocelot/Bad.yml: ignored; 'Bad' is not a pipeline") for line in lines
    )
    assert any(line.startswith("warning: .ocelot/notes.md: ignored") for line in lines)
    assert ".ocelot/a.yml is valid (pipeline a)" in lines
    assert "Error: the pipelines are invalid (4 errors, 1 warning)" in result.stderr


def test_branch_says_which_pipelines_build(tree: Path) -> None:
    (tree / "ocelot.yml").write_text(pipeline(branches="[master]"))
    (tree / ".ocelot" / "docs.yml").write_text(pipeline(branches="[docs/.*]"))
    result = run(tree, "--branch", "docs/intro")
    assert (result.exit_code, result.stdout.splitlines()[-2:]) == (
        0,
        [
            "pipeline default: branch docs/intro would not build",
            "pipeline docs: branch docs/intro would build",
        ],
    )
    none = run(tree, "--branch", "feature")
    assert none.exit_code == 1 and "no pipeline builds branch feature" in none.stderr


def test_a_named_file_is_still_checked_alone(tree: Path) -> None:
    (tree / ".ocelot" / "docs.yml").write_text(pipeline("depends_on: [ghost]"))
    result = run(tree, ".ocelot/docs.yml")
    assert (result.exit_code, result.stdout) == (0, ".ocelot/docs.yml is valid\n")
