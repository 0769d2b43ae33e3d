"""The trigger grammar: the examples of docs/ocelot-yml.md, precedence, and rejected lines."""

from __future__ import annotations

import pytest

from ocelot.errors import ConfigError
from ocelot.pipeline import Changeset, Section, parse_trigger

EXAMPLE_1 = r"\branch master||develop|| release.* and \text schema_changed"
EXAMPLE_2 = r"\branch fix.* and \text buildme and \filepath GisCommon"
EXAMPLE_3 = r"\branch master or \text force_build || buildBetch"


def push(branch: str, messages: tuple[str, ...] = (), files: tuple[str, ...] = ()) -> Changeset:
    return Changeset(branch, messages, files, known=True)


def test_example_1_parses_into_one_and_group() -> None:
    trigger = parse_trigger(EXAMPLE_1)
    assert trigger.alternatives == (
        (
            Section("branch", ("master", "develop", "release.*")),
            Section("text", ("schema_changed",)),
        ),
    )


@pytest.mark.parametrize(
    ("ctx", "holds"),
    [
        (push("develop", ("fix: schema_changed in users",)), True),
        (push("release/2.1", ("schema_changed",)), True),
        (push("master", ("nothing special",)), False),
        (push("feature/x", ("schema_changed",)), False),
        (push("master2", ("schema_changed",)), False),  # anchored at both ends
        (Changeset("master", known=False), False),  # unknown changeset: \text is false
    ],
)
def test_example_1_evaluates(ctx: Changeset, holds: bool) -> None:
    assert parse_trigger(EXAMPLE_1).matches(ctx) is holds


@pytest.mark.parametrize(
    ("ctx", "holds"),
    [
        (push("fix/123", ("please buildme",), ("src/GisCommon/a.py",)), True),
        (push("fix/123", ("please buildme",), ("src/other.py",)), False),
        (push("fix/123", ("no",), ("GisCommon/a.py",)), False),
        (push("feature/1", ("buildme",), ("GisCommon/a.py",)), False),
        (Changeset("fix/1", ("buildme",), ("GisCommon",), known=False), False),
    ],
)
def test_example_2_evaluates(ctx: Changeset, holds: bool) -> None:
    assert parse_trigger(EXAMPLE_2).matches(ctx) is holds


def test_example_3_parses_into_two_alternatives() -> None:
    trigger = parse_trigger(EXAMPLE_3)
    assert trigger.alternatives == (
        (Section("branch", ("master",)),),
        (Section("text", ("force_build", "buildBetch")),),
    )


@pytest.mark.parametrize(
    ("ctx", "holds"),
    [
        (push("master"), True),
        (Changeset("master", known=False), True),  # \branch works without a changeset
        (push("dev", ("do a buildBetch now",)), True),
        (push("dev", ("force_build",)), True),
        (push("dev", ("nothing",)), False),
        (Changeset("dev", known=False), False),
    ],
)
def test_example_3_evaluates(ctx: Changeset, holds: bool) -> None:
    assert parse_trigger(EXAMPLE_3).matches(ctx) is holds


@pytest.mark.parametrize(
    ("line", "ctx", "holds"),
    [
        # A or (B and C): the left part is never dropped.
        (r"\branch a or \branch b and \text c", push("a"), True),
        (r"\branch a or \branch b and \text c", push("b"), False),
        (r"\branch a or \branch b and \text c", push("b", ("c",)), True),
        # (A and B) or C
        (r"\branch b and \text c or \branch a", push("a"), True),
        (r"\branch b and \text c or \branch a", push("b"), False),
        (r"\branch b and \text c or \branch a", push("b", ("c",)), True),
        # (A and B) or (C and D)
        (r"\branch a and \text x or \branch b and \text y", push("a", ("y",)), False),
        (r"\branch a and \text x or \branch b and \text y", push("b", ("y",)), True),
    ],
)
def test_and_binds_tighter_than_or(line: str, ctx: Changeset, holds: bool) -> None:
    assert parse_trigger(line).matches(ctx) is holds


def test_values_joined_with_and_and_stripped() -> None:
    trigger = parse_trigger(r"\filepath  docs/ &&  mkdocs.yml  ")
    assert trigger.alternatives == ((Section("filepath", ("docs/", "mkdocs.yml"), True),),)
    assert trigger.matches(push("x", files=("docs/index.md", "mkdocs.yml")))
    assert not trigger.matches(push("x", files=("docs/index.md",)))


def test_words_inside_values_are_not_joiners() -> None:
    trigger = parse_trigger(r"\text bread and butter or \text cheese")
    assert [[s.values for s in g] for g in trigger.alternatives] == [
        [("bread and butter",)],
        [("cheese",)],
    ]
    assert trigger.matches(push("x", ("bread and butter",)))


def test_text_is_a_substring_not_a_regex() -> None:
    trigger = parse_trigger(r"\text fix.*")
    assert not trigger.matches(push("x", ("fix the thing",)))
    assert trigger.matches(push("x", ("see fix.* here",)))


def test_needs_changeset() -> None:
    assert not parse_trigger(r"\branch a or \branch b").needs_changeset
    assert parse_trigger(EXAMPLE_2).needs_changeset


def test_changeset_normalises_and_detects_skip_markers() -> None:
    ctx = Changeset("main", ["one", "two [skip ci]"], ["a"])
    assert ctx.messages == ("one", "two [skip ci]") and ctx.files == ("a",)
    assert ctx.known and ctx.skip_requested
    assert not Changeset("main", ("[ci skipped]",)).skip_requested
    assert Changeset("main", "a single message").messages == ("a single message",)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("", "the line is empty"),
        ("branch master", r"starts with \branch"),
        (r"\banch master", r"unknown section \banch"),
        (r"\branchmaster", r"unknown section \branchmaster"),
        (r"\branch", "needs a value"),
        (r"\branch a||", "empty value"),
        (r"\branch a||b&&c", "mixes || and &&"),
        (r"\branch master and develop", "contains a space"),
        (r"\branch (x", "invalid regular expression"),
        (r"\branch x and", "ends with 'and'"),
        (r"\text x or", "ends with 'or'"),
        (r"\branch x and \nope y", r"unknown section \nope"),
    ],
)
def test_bad_lines_are_rejected_with_a_clear_message(line: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_trigger(line)
    assert fragment in caught.value.message
