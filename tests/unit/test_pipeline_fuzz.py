"""Property tests: whatever the text, lint returns issues and load_config raises only
ConfigError; a file without errors always loads, and its stages can be planned."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocelot.errors import ConfigError
from ocelot.pipeline import (
    BuildConfig,
    Changeset,
    Issue,
    check_branch,
    lint,
    load_config,
    stage_command,
    stage_runs,
)

KEYS = [
    "image", "machineTag", "buildTool", "branches", "env", "stages", "name", "script",
    "trigger", "triggers", "notify", "slack", "email", "channel", "identifier", "on", "to",
    "packages", "working_dir", "timeout", "retry", "allow_failure", "x-anchor", "bogus",
]  # fmt: skip
WORDS = [
    "ALL", "master", "release/.*", "(", "[a-", "A=1", "NOPE", "", "..", "/abs", "src", "90s",
    "1h30m", "0s", "10x", "PASS", "FAIL", "FIXED", "nope", "a@b.c", "make", "echo a: b",
    "\\branch master", "\\branch a or \\text b and \\filepath c", "\\text a || b && c",
    "\\branch x and", "\\foo", "ocelot/busybox", "mac",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=15,
)
word = st.sampled_from(WORDS)


def mostly(*good: object) -> st.SearchStrategy[Any]:
    """One of ``good`` most of the time, anything from WORDS sometimes."""
    return st.one_of(*[st.sampled_from(good)] * 5, word)


def lists_of(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(strategy, max_size=3)


TRIGGERS = ("\\branch master", "\\branch a.* or \\text b and \\filepath c", "\\text x && y")
STAGE = st.fixed_dictionaries(
    {"name": mostly("build", "test"), "script": lists_of(mostly("make", "echo hi"))},
    optional={
        "triggers": lists_of(mostly(*TRIGGERS)),
        "trigger": st.fixed_dictionaries({"branches": lists_of(mostly("master", "rel.*"))}),
        "working_dir": mostly("src", "a/../b", "."),
        "timeout": mostly("90s", "1h30m", 5, 0.5),
        "retry": st.integers(-1, 3),
        "allow_failure": st.booleans(),
        "image": mostly("alpine"),
        "env": lists_of(mostly("A=1", "B=")),
        "bogus": documents,
    },
)
RUNS_ON = st.sampled_from(
    [{"image": "ocelot/busybox"}, {"machineTag": "mac"}] * 4
    + [{}, {"image": "a", "machineTag": "b"}]
)
configs = st.fixed_dictionaries(
    {"buildTool": mostly("make"), "stages": st.lists(STAGE, min_size=1, max_size=3)},
    optional={
        "image": word,
        "branches": lists_of(mostly("ALL", "master", "release/.*")),
        "env": lists_of(mostly("A=1")),
        "working_dir": mostly("src"),
        "timeout": mostly("10m", 60),
        "notify": st.one_of(
            st.fixed_dictionaries(
                {"slack": st.fixed_dictionaries({"on": lists_of(mostly("PASS", "FIXED"))})},
                optional={"email": st.fixed_dictionaries({"to": mostly("a@b.c", ["a@b.c"])})},
            ),
            documents,
        ),
    },
)
configs = st.tuples(configs, RUNS_ON).map(lambda pair: {**pair[1], **pair[0]})

YAMLISH = "\n:-[]{}#&*!|>'\"%@`,? \t\\"
texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(YAMLISH) | st.sampled_from(KEYS), max_size=40).map("".join),
)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=DUMPER, default_flow_style=False, allow_unicode=True)


def exercise(text: str) -> None:
    issues = lint(text)
    assert isinstance(issues, list) and all(isinstance(i, Issue) for i in issues)
    for issue in issues:
        assert issue.severity in ("error", "warning")
        assert issue.line is None or issue.line >= 1
        str(issue)
        issue.to_dict()
    errors = [i for i in issues if i.severity == "error"]
    try:
        cfg = load_config(text)
    except ConfigError as exc:
        assert errors and exc.issues == errors
        return
    assert not errors and isinstance(cfg, BuildConfig)
    for branch in ("master", "release/1"):
        try:
            check_branch(cfg, branch)
        except ConfigError:
            pass
    for stage in cfg.stages:
        stage_runs(stage, Changeset("master", ["m"], ["f"]))
        stage_runs(stage, Changeset("dev", known=False))
        argv, workdir = stage_command(stage, cfg, "/ws")
        assert argv[:2] == ["sh", "-c"] and (workdir == "/ws" or workdir.startswith("/ws/"))


FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(documents)
def test_random_documents(data: Any) -> None:
    exercise(dump(data))


@FUZZ
@given(configs)
def test_config_shaped_documents(data: dict[str, Any]) -> None:
    exercise(dump(data))


@FUZZ
@given(texts)
def test_random_text(text: str) -> None:
    exercise(text)
