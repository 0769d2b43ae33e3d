"""The linter: the original messages, every problem at once, paths, lines and severities."""

from __future__ import annotations

import pytest

from ocelot.pipeline import Issue, check, lint

BASE = "image: alpine\nbuildTool: make\nstages:\n  - name: build\n    script: [make]\n"

NO_IMAGE = (
    "there is no image AND no machineTag listed inside of your ocelot yaml file... "
    "one of these is required"
)
BOTH = "you cannot have both image and machineTag. they are mutually exclusive"


def messages(text: str, severity: str = "error") -> list[str]:
    return [i.message for i in lint(text) if i.severity == severity]


def test_clean_file_has_no_issues() -> None:
    assert lint(BASE) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("buildTool: make\nstages: [{name: a, script: [x]}]\n", NO_IMAGE),
        ("image: ''\nbuildTool: make\nstages: [{name: a, script: [x]}]\n", NO_IMAGE),
        ("image:\nbuildTool: make\nstages: [{name: a, script: [x]}]\n", NO_IMAGE),
        ("machineTag: m\n" + BASE, BOTH),
        ("image: a\nstages: [{name: a, script: [x]}]\n", "BuildTool must be specified"),
        ("image: a\nbuildTool:\nstages: [{name: a, script: [x]}]\n", "BuildTool must be specified"),
        (
            "image: a\nbuildTool: ''\nstages: [{name: a, script: [x]}]\n",
            "BuildTool must be specified",
        ),
        ("image: a\nbuildTool: b\n", "there must be at least one stage listed"),
        ("image: a\nbuildTool: b\nstages: []\n", "there must be at least one stage listed"),
        ("image: a\nbuildTool: b\nstages:\n", "there must be at least one stage listed"),
        ("image: a\nbuildTool: b\nstages: [{name: x}]\n", "Script for stage x should not be empty"),
        (
            "image: a\nbuildTool: b\nstages: [{name: x, script: []}]\n",
            "Script for stage x should not be empty",
        ),
        (
            "image: a\nbuildTool: b\nstages: [{script: }]\n",
            "Script for stage #1 should not be empty",
        ),
    ],
)
def test_original_messages(text: str, message: str) -> None:
    assert messages(text) == [message]


def test_image_with_empty_machine_tag_is_fine_as_in_the_original() -> None:
    assert lint("machineTag: ''\n" + BASE) == []


def test_issue_string_names_file_line_and_path() -> None:
    text = (
        BASE
        + "  - name: test\n    script: [make test]\n"
        + "\n" * 4
        + "  - name: build2\n    script:\n"
    )
    [issue] = lint(text)
    assert (
        str(issue) == "ocelot.yml:13: stages[2].script: Script for stage build2 should not be empty"
    )


def test_every_problem_at_once() -> None:
    text = "machineTag: mac\nimage: x\nstages:\n  - name: a\n  - name: b\n    script: []\n"
    assert [str(i) for i in lint(text)] == [
        "ocelot.yml: buildTool: BuildTool must be specified",
        f"ocelot.yml:1: machineTag: {BOTH}",
        "ocelot.yml:4: stages[0].script: Script for stage a should not be empty",
        "ocelot.yml:6: stages[1].script: Script for stage b should not be empty",
    ]


def test_unknown_keys_are_warnings_that_suggest_the_known_key() -> None:
    issues = lint(BASE + "cache: true\nx-anchors: {a: 1}\nnotify: {slak: {}}\n")
    assert [(i.path, i.line, i.severity) for i in issues] == [
        ("cache", 6, "warning"),
        ("notify.slak", 8, "warning"),
    ]
    assert "did you mean 'slack'?" in issues[1].message


def test_lint_never_raises_on_malformed_yaml() -> None:
    [issue] = lint(BASE + "  - name: [unclosed\n")
    assert issue.line == 7 and issue.severity == "error" and issue.path == ""
    assert issue.message.startswith("invalid YAML")


@pytest.mark.parametrize(
    ("extra", "path", "fragment"),
    [
        ("branches: [main, 'rel(']\n", "branches[1]", "invalid regular expression"),
        ("env: [A=1, B]\n", "env[1]", "KEY=value"),
        ("env: ['=1']\n", "env[0]", "KEY=value"),
        ("working_dir: /srv\n", "working_dir", "must stay inside the workspace"),
        ("working_dir: a/../../b\n", "working_dir", "must stay inside the workspace"),
        ("timeout: 10 min\n", "timeout", "is not a duration"),
        ("timeout: 0m\n", "timeout", "greater than zero"),
        ("timeout: 0\n", "timeout", "is not a duration"),
        ("notify: {email: {to: bob}}\n", "notify.email.to", "email address"),
        ("notify: {email: {on: [FAIL]}}\n", "notify.email.to", "needs a to address"),
        ("notify: {slack: {on: [ALWAYS]}}\n", "notify.slack.on[0]", "not one of PASS"),
        ("branches: main\n", "branches", "expected a list"),
    ],
)
def test_top_level_checks(extra: str, path: str, fragment: str) -> None:
    [issue] = lint(BASE + extra)
    assert issue.path == path and issue.severity == "error"
    assert fragment in issue.message


STAGE = "image: a\nbuildTool: b\nstages:\n  - name: s\n    script: [x]\n"


@pytest.mark.parametrize(
    ("extra", "path", "fragment"),
    [
        ("    triggers: ['\\branch a and']\n", "stages[0].triggers[0]", "no section follows"),
        ("    triggers: ['\\bogus a']\n", "stages[0].triggers[0]", "unknown section"),
        ("    trigger: {branches: ['(']}\n", "stages[0].trigger.branches[0]", "regular expr"),
        ("    working_dir: ../up\n", "stages[0].working_dir", "inside the workspace"),
        ("    timeout: 1d\n", "stages[0].timeout", "is not a duration"),
        ("    retry: -1\n", "stages[0].retry", "at least 0"),
        ("    retry: 1.5\n", "stages[0].retry", "expected an integer"),
        ("    allow_failure: maybe\n", "stages[0].allow_failure", "true or false"),
        ("    image: ''\n", "stages[0].image", "must not be empty"),
        ("    env: {A: 1}\n", "stages[0].env", "expected a list"),
    ],
)
def test_stage_checks(extra: str, path: str, fragment: str) -> None:
    [issue] = lint(STAGE + extra)
    assert (issue.path, issue.line) == (path, 6)
    assert fragment in issue.message


def test_script_line_read_as_a_mapping_gets_a_hint() -> None:
    [issue] = lint(STAGE + "  - name: t\n    script:\n      - echo a: b\n")
    assert issue.path == "stages[1].script[0]" and issue.line == 8
    assert "quote" in issue.message


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("  - name: s\n    script: [y]\n", "duplicate stage name 's'"),
        ("  - script: [y]\n", "has no name"),
        (
            "    trigger: {branches: [main]}\n    triggers: ['\\branch main']\n",
            "trigger.branches is ignored",
        ),
    ],
)
def test_stage_warnings(extra: str, fragment: str) -> None:
    [issue] = lint(STAGE + extra)
    assert issue.severity == "warning" and fragment in issue.message


def test_yaml_11_scalars_are_read_as_text_where_a_string_is_wanted() -> None:
    result = check(
        "image: a\nbuildTool: 2\nbranches: [1.0, no]\nstages: [{name: 1, script: [true]}]\n"
    )
    assert result.issues == []
    assert result.data is not None
    assert result.data["branches"] == ["1.0", "no"]
    assert result.data["stages"] == [{"name": "1", "script": ["true"]}]


@pytest.mark.parametrize("text", ["[1, 2]", "just text", "42"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    [issue] = lint(text)
    assert issue.message.startswith("ocelot.yml must be a mapping")
    assert check(text).data is None


def test_issues_are_sorted_and_unique() -> None:
    issues = lint("stages: [{name: a}, {name: a}]\nenv: [X]\nbranches: ['(']\n")
    assert issues == sorted(issues, key=Issue.sort_key)
    assert len({(i.path, i.message) for i in issues}) == len(issues)
