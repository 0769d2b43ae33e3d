"""Several pipelines per repository, as a pure library: names, files, ``depends_on`` graphs,
the ``paths`` globs, and the new keys in the linter and the typed config."""

from __future__ import annotations

import pytest

from ocelot.errors import ConfigError
from ocelot.pipeline import graph_problems, lint, load_config, paths_verdict, pipeline_files
from ocelot.pipeline.layout import (
    config_path,
    find_cycles,
    name_problem,
    skip_reason,
    upstream_failed,
)
from ocelot.pipeline.paths import compile_glob, glob_regex, known_files

BASE = "image: ocelot/busybox\nbuildTool: shell\nstages:\n  - name: a\n    script: [echo]\n"


@pytest.mark.parametrize("name", ["default", "base-image", "a", "0", "x_y-z9"])
def test_good_pipeline_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize("name", ["", "Base", "-x", "_x", "a b", "a/b", "a.yml", "é", "x" * 101])
def test_bad_pipeline_names_say_why(name: str) -> None:
    problem = name_problem(name)
    assert problem is not None
    assert "pipeline name" in problem


def test_files_map_to_pipelines_and_odd_files_are_named() -> None:
    found, problems = pipeline_files(
        [
            "ocelot.yml",
            ".ocelot/base-image.yml",
            ".ocelot/docs.yml",
            ".ocelot/README.md",
            ".ocelot/x.yaml",
            ".ocelot/sub",
            ".ocelot/default.yml",
            ".ocelot/Bad.yml",
            "src/ocelot.yml",
        ]
    )
    assert found == {
        "base-image": ".ocelot/base-image.yml",
        "default": "ocelot.yml",
        "docs": ".ocelot/docs.yml",
    }
    assert [p.split(":")[0] for p in problems] == [
        ".ocelot/Bad.yml",
        ".ocelot/README.md",
        ".ocelot/default.yml",
        ".ocelot/sub",
        ".ocelot/x.yaml",
    ]
    assert any("did you mean .yml?" in p for p in problems)
    assert any("the pipeline 'default' is ocelot.yml at the root" in p for p in problems)
    assert (config_path("default"), config_path("docs")) == ("ocelot.yml", ".ocelot/docs.yml")


def test_graph_problems_name_unknown_pipelines_and_every_cycle_with_its_path() -> None:
    assert graph_problems({"default": ["base"], "base": []}) == []
    problems = graph_problems(
        {"default": ["b"], "a": ["b"], "b": ["a", "ghost"], "c": ["c"], "d": ["e"], "e": ["d"]}
    )
    assert problems == [
        "pipeline 'b' depends on 'ghost', which does not exist (pipelines: a, b, c, d, default, e)",
        "dependency cycle: a → b → a",
        "dependency cycle: c → c",
        "dependency cycle: d → e → d",
    ]
    assert find_cycles({"x": ["y"], "y": ["z"], "z": ["x"]}) == [["x", "y", "z", "x"]]


def test_which_upstream_ends_stop_their_dependents() -> None:
    for status in ("FAILED", "FAILED_PRESTART", "KILLED", "DECLINED"):
        assert upstream_failed(status, "whatever")
    assert not upstream_failed("PASSED", None)
    assert upstream_failed("SKIPPED", skip_reason("a", 3, "FAILED"))  # the chain goes on
    assert not upstream_failed("SKIPPED", "no changed file matches paths: x (1 file changed)")
    assert skip_reason("base-image", 7, "KILLED") == (
        "not run: pipeline 'base-image' (build #7) ended KILLED"
    )


@pytest.mark.parametrize(
    ("glob", "path", "hit"),
    [
        ("requirements*.txt", "requirements.txt", True),
        ("requirements*.txt", "requirements-dev.txt", True),
        ("requirements*.txt", "lib/requirements.txt", False),
        ("Dockerfile.base", "Dockerfile.base", True),
        ("Dockerfile.base", "Dockerfile-base", False),
        ("**/*.py", "app.py", True),
        ("**/*.py", "a/b/c/app.py", True),
        ("src/**", "src/a/b.txt", True),
        ("src/**", "srcx/a", False),
        ("src/**/test_*.py", "src/test_a.py", True),
        ("src/**/test_*.py", "src/x/y/test_a.py", True),
        ("src/**/test_*.py", "src/x/y/a_test.py", False),
        ("docs/", "docs/guide/intro.md", True),
        ("/Makefile", "Makefile", True),
        ("?.md", "a.md", True),
        ("?.md", "ab.md", False),
        ("[abc].txt", "b.txt", True),
        ("[!abc].txt", "b.txt", False),
        ("[!abc].txt", "d.txt", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a.b", "axb", False),  # a dot is a dot, not "any character"
    ],
)
def test_globs(glob: str, path: str, hit: bool) -> None:
    assert (compile_glob(glob).fullmatch(path) is not None) is hit, glob_regex(glob)


@pytest.mark.parametrize(
    ("glob", "message"),
    [
        ("a[b", "'[' is never closed with ']'"),
        ("a\\", "ends with a lone backslash"),
        ("[a/b]", "'/' cannot be inside [...]"),
        ("/", "names no path"),
        ("  ", "must be a non-empty string"),
    ],
)
def test_bad_globs_say_why(glob: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        glob_regex(glob)


def test_a_long_path_against_many_stars_is_matched_in_linear_time() -> None:
    regex = compile_glob("*a*a*a*a*a*a*a*a*a*a*a*b")
    assert regex.fullmatch("a" * 100_000) is None  # RE2: returns at once


def test_paths_verdict_on_known_and_unknown_changesets() -> None:
    globs = ["Dockerfile.base", "requirements*.txt"]
    assert paths_verdict([], None) == (True, "no paths filter")
    assert paths_verdict(globs, {"files": ["requirements-dev.txt"]}) == (
        True,
        "requirements-dev.txt matches paths glob 'requirements*.txt'",
    )
    assert paths_verdict(globs, {"files": ["src/app.py", "README"]}) == (
        False,
        "no changed file matches paths: Dockerfile.base, requirements*.txt (2 files changed)",
    )
    for unknown in (None, {}, {"files": ["x"], "incomplete": True}, {"messages": []}):
        runs, why = paths_verdict(globs, unknown)
        assert runs and "not known" in why
    assert known_files({"files": ["a"], "base_unknown": True}) is None


def test_the_new_keys_lint_and_load() -> None:
    text = BASE + "paths: ['**/*.py', requirements.txt]\ndepends_on: [base-image, lint]\n"
    config = load_config(text)
    assert config.paths == ("**/*.py", "requirements.txt")
    assert config.depends_on == ("base-image", "lint")
    assert load_config(BASE).paths == () and load_config(BASE).depends_on == ()
    issues = [str(i) for i in lint(BASE + "paths: ['a[']\ndepends_on: [Base, x, x]\n")]
    assert "ocelot.yml:6: paths[0]: glob 'a[': '[' is never closed with ']'" in issues
    assert (
        "ocelot.yml:7: depends_on[0]: 'Base' is not a pipeline name: use lower-case letters, "
        "digits, '-' and '_', starting with a letter or digit"
    ) in issues
    assert "ocelot.yml:7: warning: depends_on[2]: 'x' is listed twice" in issues
    bad = [str(i) for i in lint(BASE + "paths: src\n")]
    assert any(i.startswith("ocelot.yml:6: paths: expected a list") for i in bad)
