"""The YAML reader: line numbers for key paths, YAML 1.1 quirks, and unreadable input."""

from __future__ import annotations

import pytest

from ocelot.errors import ConfigError
from ocelot.pipeline.parser import Issue, format_path, parse

TEXT = """\
image: alpine
stages:
  - name: build
    script:
      - make
      - make test
notify:
  slack:
    on: [PASS]
"""


def test_every_key_path_maps_to_its_line() -> None:
    doc = parse(TEXT)
    assert doc.line_of(("image",)) == 1
    assert doc.line_of(("stages",)) == 2
    assert doc.line_of(("stages", 0)) == 3
    assert doc.line_of(("stages", 0, "script")) == 4
    assert doc.line_of(("stages", 0, "script", 1)) == 6
    assert doc.line_of(("stages", 0, "env")) == 3  # missing: nearest ancestor
    assert doc.line_of(()) is None


def test_on_stays_a_key_and_scalars_keep_their_text() -> None:
    doc = parse(TEXT + "branches: [1.0, yes, '2.0']\n")
    assert doc.data["notify"]["slack"] == {"on": ["PASS"]}
    assert doc.data["branches"] == [1.0, True, "2.0"]
    assert doc.raw[("branches", 0)] == "1.0" and doc.raw[("branches", 1)] == "yes"
    assert ("branches", 2) not in doc.raw


def test_merge_keys_and_duplicates() -> None:
    doc = parse("x-base: &b {env: [A=1]}\nstage:\n  <<: *b\n  name: n\nname: a\nname: b\n")
    assert doc.data["stage"] == {"env": ["A=1"], "name": "n"}
    assert doc.data["name"] == "b"
    assert doc.warnings == [
        Issue("name", 6, "duplicate key 'name'; the last one is used", "warning")
    ]


def test_empty_document() -> None:
    assert parse("").data is None
    assert parse("# only a comment\n").data is None


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdef", "bcdefg", strict=False)
)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a: [\n", 2, "invalid YAML"),
        ("a: b: c\n", 1, "mapping values are not allowed"),
        ("a: 1\n\t- b\n", 2, "'\\t'"),
        ("a: 1\n---\nb: 2\n", 2, "single document"),
        ("a: 1\nb: \x07\n", 2, "U+0007"),
        ("a: !custom 1\n", 1, "!custom"),
        ("a: !!int ten\n", 1, "cannot read 'ten'"),
        ("a: !!float x\n", 1, "cannot read 'x'"),
        ("a: !!timestamp nope\n", 1, "cannot read 'nope'"),
        (f"a: !!int {'9' * 5000}\n", 1, "cannot read"),
        ("a: !custom {b: 1}\n", 1, "unsupported YAML tag !custom"),
        ("a: &x [*x]\n", 1, "recursion"),
        ("? [1]\n: 2\n", 1, "keys must be plain text"),
        (BOMB, None, "too large"),
        ("[" * 200 + "]" * 200, 1, "nested more than"),
        ("[" * 1000, None, "nested too deeply"),
    ],
)
def test_unreadable_yaml_is_one_issue_with_a_line(
    text: str, line: int | None, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    [issue] = caught.value.issues
    assert isinstance(issue, Issue)
    assert fragment in issue.message
    if line is not None:
        assert issue.line == line


def test_issue_rendering() -> None:
    issue = Issue("stages[1].script", 12, "Script for stage build should not be empty")
    assert (
        str(issue) == "ocelot.yml:12: stages[1].script: Script for stage build should not be empty"
    )
    assert issue.to_dict() == {
        "path": "stages[1].script",
        "line": 12,
        "message": "Script for stage build should not be empty",
        "severity": "error",
    }
    assert (
        str(Issue("colour", None, "unknown", "warning")) == "ocelot.yml: warning: colour: unknown"
    )
    assert str(Issue("", 3, "invalid YAML: x")) == "ocelot.yml:3: invalid YAML: x"


def test_format_path() -> None:
    assert format_path(("stages", 1, "triggers", 0)) == "stages[1].triggers[0]"
    assert format_path((0, "a")) == "[0].a"
    assert format_path(()) == ""
