"""Branch patterns from ocelot.yml run in linear time (RE2): a catastrophic pattern cannot pin
a worker, and what RE2 cannot run is refused by the linter and ``ocelot validate`` with the
pattern's line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from ocelot.cli.main import cli
from ocelot.errors import ConfigError
from ocelot.pipeline import Changeset, check_branch, lint, load_config, parse_trigger
from ocelot.pipeline.triggers import branch_matches, compile_branch_regex

HEAD = "image: ocelot/busybox\nbuildTool: sh\n"
STAGES = "stages:\n  - name: s\n    script: [x]\n"


def test_a_catastrophic_pattern_against_a_long_branch_returns_at_once() -> None:
    # In a child process, so a regression hangs the child (killed by the timeout), not pytest.
    code = textwrap.dedent(
        """
        from ocelot.pipeline import check_branch, load_config
        from ocelot.pipeline.triggers import branch_matches
        for pattern in ["(a+)+b", "(a|a)*b", "(a*)*b", "(.*a){20}b", "(x+x+)+y"]:
            assert not branch_matches(pattern, "a" * 50000 + "!")
        config = load_config(
            "image: i\\nbuildTool: b\\nbranches: ['(a+)+b']\\n"
            "stages:\\n  - name: s\\n    script: [x]\\n"
        )
        try:
            check_branch(config, "a" * 50000)
        except Exception as exc:
            assert "not in the acceptable branches list" in str(exc)
        print("done")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"


def test_ordinary_patterns_match_as_before() -> None:
    assert branch_matches("release/.*", "release/1.2")
    assert not branch_matches("release/.*", "xrelease/1.2")  # anchored at both ends
    assert branch_matches("master|develop", "develop")
    assert branch_matches(r"v\d+\.\d+", "v1.22")
    assert branch_matches("(?i)MAIN", "main")
    assert branch_matches(r"feature/(?P<name>[a-z]+)", "feature/login")
    assert not branch_matches("(", "(")  # an invalid pattern matches nothing


@pytest.mark.parametrize(
    ("pattern", "feature"),
    [
        (r"(a)\1", "backreferences are not supported"),
        (r"(?P<x>a)(?P=x)", "backreferences are not supported"),
        (r"(?=rel)release", "lookahead is not supported"),
        (r"(?!wip).*", "lookahead is not supported"),
        (r"(?<=a)b", "lookbehind is not supported"),
        (r"(?<!a)b", "lookbehind is not supported"),
        (r"(?>a+)b", "atomic groups are not supported"),
        (r"a++", "possessive quantifiers are not supported"),
        (r"main\Z", r"\Z is not supported"),
        (r"(a)?(?(1)b|c)", "conditional groups are not supported"),
        ("a{1001}", "more than 1000 repeats"),
    ],
)
def test_what_re2_cannot_run_is_refused_saying_why(pattern: str, feature: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_branch_regex(pattern)
    message = caught.value.message
    assert message.startswith(f"pattern {pattern!r} cannot be used: {feature}")
    assert message.endswith("(Ocelot matches in linear time)")


def test_the_backreference_message_reads_as_documented() -> None:
    with pytest.raises(ConfigError) as caught:
        compile_branch_regex(r"(a)\1")
    assert caught.value.message == (
        "pattern '(a)\\\\1' cannot be used: backreferences are not supported "
        "(Ocelot matches in linear time)"
    )


def test_syntax_errors_keep_pythons_wording_and_huge_patterns_are_refused() -> None:
    with pytest.raises(ConfigError, match='invalid regular expression "rel\\(": missing \\)'):
        compile_branch_regex("rel(")
    with pytest.raises(ConfigError, match="longer than 1000 characters"):
        compile_branch_regex("a" * 1001)


def test_the_linter_names_the_line_of_every_refused_pattern() -> None:
    text = (
        HEAD
        + "branches:\n  - master\n  - '(a)\\1'\n"
        + "stages:\n  - name: s\n    script: [x]\n"
        + "    trigger: {branches: ['(?=x)y']}\n"
        + "  - name: t\n    script: [x]\n"
        + "    triggers: ['\\branch (?<!a)b']\n"
    )
    issues = lint(text)
    found = {(i.path, i.line): i.message for i in issues if i.severity == "error"}
    assert set(found) == {
        ("branches[1]", 5),
        ("stages[0].trigger.branches[0]", 9),
        ("stages[1].triggers[0]", 12),
    }
    assert "backreferences are not supported" in found[("branches[1]", 5)]
    assert "lookahead is not supported" in found[("stages[0].trigger.branches[0]", 9)]
    assert "lookbehind is not supported" in found[("stages[1].triggers[0]", 12)]
    with pytest.raises(ConfigError) as caught:
        load_config(text)
    assert len(caught.value.issues) == 3
    assert str(caught.value.issues[0]).startswith("ocelot.yml:5: branches[1]: pattern '(a)")


def test_a_trigger_line_with_a_catastrophic_pattern_is_fine_and_fast() -> None:
    trigger = parse_trigger(r"\branch (a+)+b")
    assert not trigger.matches(Changeset("a" * 50000))
    with pytest.raises(ConfigError, match="backreferences are not supported"):
        parse_trigger(r"\branch (a)\1")


def test_ocelot_validate_shows_the_refused_pattern_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ocelot.yml").write_text(HEAD + "branches: [master, '(a)\\1']\n" + STAGES)
    env = {"NO_COLOR": "1", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    result = CliRunner().invoke(cli, ["validate"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "ocelot.yml:3: branches[1]: pattern '(a)\\\\1' cannot be used: backreferences are not "
        "supported (Ocelot matches in linear time)"
    ]
    assert result.stderr == "Error: ocelot.yml is invalid (1 error)\n"


def test_check_branch_with_a_linear_pattern() -> None:
    config = load_config(HEAD + "branches: ['(a+)+b', 'release/.*']\n" + STAGES)
    check_branch(config, "a" * 1000 + "b")
    with pytest.raises(ConfigError, match="not in the acceptable branches list"):
        check_branch(config, "a" * 20000)
