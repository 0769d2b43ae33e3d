"""Golden ocelot.yml files: each valid file loads, each invalid file gives exactly the issues in
its ``.expected`` file (one ``<line> <path> <message>`` per line, ``-`` for none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocelot.errors import ConfigError
from ocelot.pipeline import BuildConfig, Issue, lint, load_config

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "ocelot_yml"
VALID = sorted((GOLDEN / "valid").glob("*.yml"))
INVALID = sorted((GOLDEN / "invalid").glob("*.yml"))


def render(issue: Issue) -> str:
    level = "warning: " if issue.severity == "warning" else ""
    return f"{issue.line or '-'} {issue.path or '-'} {level}{issue.message}"


def expected(path: Path) -> list[str]:
    golden = path.with_suffix(".expected")
    return golden.read_text().splitlines() if golden.exists() else []


def test_golden_files_are_there() -> None:
    assert len(VALID) >= 5 and len(INVALID) >= 10
    for golden in GOLDEN.glob("*/*.expected"):
        assert golden.with_suffix(".yml").exists(), f"{golden} has no .yml"
    for path in INVALID:
        assert path.with_suffix(".expected").exists(), f"{path} has no .expected"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_file_loads(path: Path) -> None:
    text = path.read_text()
    issues = lint(text)
    assert [render(i) for i in issues] == expected(path)
    assert all(i.severity == "warning" for i in issues)
    assert isinstance(load_config(text), BuildConfig)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_file_gives_expected_issues(path: Path) -> None:
    text = path.read_text()
    issues = lint(text)
    assert [render(i) for i in issues] == expected(path)
    errors = [i for i in issues if i.severity == "error"]
    assert errors
    with pytest.raises(ConfigError) as caught:
        load_config(text)
    assert caught.value.issues == errors
    noun = "issue" if len(errors) == 1 else "issues"
    assert caught.value.message == f"ocelot.yml is invalid ({len(errors)} {noun})"


def test_doc_example_without_build_tool_names_the_original_message() -> None:
    text = (GOLDEN / "invalid" / "doc_example_maven_no_buildtool.yml").read_text()
    assert [i.message for i in lint(text)] == ["BuildTool must be specified"]
