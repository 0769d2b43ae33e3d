"""The typed config and the questions a build asks of it: branch, stage conditions, command."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ocelot.errors import ConfigError
from ocelot.pipeline import (
    STARTER_YML,
    BuildConfig,
    Changeset,
    StageConfig,
    branch_allowed,
    check_branch,
    lint,
    load_config,
    resolve_workdir,
    stage_command,
    stage_env,
    stage_runs,
)

VALID = Path(__file__).resolve().parents[1] / "fixtures" / "ocelot_yml" / "valid"


def config(name: str) -> BuildConfig:
    return load_config((VALID / f"{name}.yml").read_text())


def test_example_go_loads_typed() -> None:
    cfg = config("doc_example_go")
    assert (cfg.image, cfg.machine_tag, cfg.build_tool) == ("golang:1.10.2-alpine3.7", None, "go")
    assert cfg.branches == ("ALL",)
    assert cfg.env == {"OCELOT_PATH": "src/github.com/acme/ocelot"}
    assert [s.name for s in cfg.stages] == ["check ssh file", "triggered", "be_useful", "testing"]
    assert cfg.stages[1].trigger_branches == ("creds_to_postgres",)
    assert cfg.stages[3].env == {"BUILDSERVERHACK": "0"}
    assert cfg.notify == {
        "slack": {"channel": "@someone", "identifier": "ocelot-base", "on": ["PASS", "FAIL"]}
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.image = "other"  # type: ignore[misc]


def test_additions_load_typed() -> None:
    cfg = config("additions")
    assert cfg.working_dir == "src" and cfg.timeout_seconds == 5400
    lint_stage, test, docs = cfg.stages
    assert (lint_stage.image, lint_stage.timeout_seconds, lint_stage.retry) == (
        "python:3.11-alpine",
        90,
        0,
    )
    assert (test.working_dir, test.timeout_seconds, test.retry) == ("tests", 600, 2)
    assert docs.allow_failure and not test.allow_failure and len(docs.triggers) == 4
    assert cfg.env == {"PIP_NO_CACHE_DIR": "1", "EMPTY": ""}
    assert cfg.notify["email"] == {"to": ["dev@example.com", "ops@example.com"], "on": ["CHANGED"]}
    assert stage_env(cfg, test) == {"PIP_NO_CACHE_DIR": "1", "EMPTY": "", "PYTHONHASHSEED": "0"}


def test_machine_tag_example() -> None:
    cfg = config("doc_example_machinetag")
    assert (cfg.image, cfg.machine_tag) == (None, "mac")
    check_branch(cfg, "release/1.2")
    with pytest.raises(ConfigError):
        check_branch(cfg, "prerelease/1.2")


def test_develop_is_refused_by_the_maven_example_naming_master() -> None:
    cfg = config("doc_example_maven")
    check_branch(cfg, "master")
    with pytest.raises(ConfigError) as caught:
        check_branch(cfg, "develop")
    assert caught.value.message == "branch develop not in the acceptable branches list: master"


def test_empty_branch_list_builds_nothing_and_says_so() -> None:
    cfg = dataclasses.replace(config("doc_example_maven"), branches=())
    with pytest.raises(ConfigError) as caught:
        check_branch(cfg, "master")
    assert caught.value.message.startswith("branch master not in the acceptable branches list: ")
    assert "nothing builds unless the build is forced" in caught.value.message


@pytest.mark.parametrize(
    ("branches", "branch", "allowed"),
    [
        (["ALL"], "anything/at-all", True),
        (["master"], "master", True),
        (["master"], "master2", False),
        (["master"], "old-master", False),
        (["release/.*"], "release/1.0", True),
        (["release/.*"], "x/release/1.0", False),
        (["a", "b|c"], "c", True),
        (["(broken"], "(broken", False),
        ([], "master", False),
    ],
)
def test_branch_allowed(branches: list[str], branch: str, allowed: bool) -> None:
    assert branch_allowed(branches, branch) is allowed


def stage(**fields: object) -> StageConfig:
    return dataclasses.replace(config("doc_example_maven").stages[0], **fields)  # type: ignore[arg-type]


def test_stage_runs_with_triggers() -> None:
    maven = config("doc_example_maven").stages[0]
    assert stage_runs(maven, Changeset("maven")) == (True, r"trigger matched (\branch maven)")
    assert stage_runs(maven, Changeset("master")) == (
        False,
        r"skipped: no trigger matched (\branch maven)",
    )


def test_any_trigger_line_is_enough() -> None:
    docs = config("additions").stages[2]
    assert stage_runs(docs, Changeset("dev", ["force_build"], []))[0]
    assert stage_runs(docs, Changeset("x", [], ["docs/a.md", "mkdocs.yml"]))[0]
    runs, why = stage_runs(docs, Changeset("dev", known=False))
    assert not runs and "changeset is unknown" in why


def test_old_trigger_branches_and_no_conditions() -> None:
    go = config("doc_example_go")
    triggered = go.stages[1]
    assert stage_runs(triggered, Changeset("creds_to_postgres"))[0]
    assert stage_runs(triggered, Changeset("master")) == (
        False,
        "skipped: branch master not in trigger.branches (creds_to_postgres)",
    )
    assert stage_runs(go.stages[0], Changeset("anything", known=False)) == (True, "no conditions")


def test_triggers_win_over_trigger_branches() -> None:
    both = stage(trigger_branches=("master",))
    assert not stage_runs(both, Changeset("master"))[0]


def test_stage_command() -> None:
    cfg = config("additions")
    lint_stage, test, _ = cfg.stages
    assert stage_command(lint_stage, cfg, "/workspace/") == (
        ["sh", "-c", "cd /workspace/src && pip install ruff && ruff check ."],
        "/workspace/src",
    )
    argv, workdir = stage_command(test, cfg, "/workspace")
    assert argv == ["sh", "-c", "cd /workspace/tests && pytest -q"]
    assert workdir == "/workspace/tests"
    maven = config("doc_example_maven")
    assert stage_command(maven.stages[0], maven, "/w s") == (
        ["sh", "-c", "cd '/w s' && mvn clean install"],
        "/w s",
    )


def test_workdir_never_leaves_the_workspace() -> None:
    assert resolve_workdir("/ws", None) == "/ws"
    assert resolve_workdir("/ws", "a/./b/..") == "/ws/a"
    assert resolve_workdir("/ws", "./") == "/ws"
    for bad in ("/etc", "..", "a/../../etc"):
        with pytest.raises(ConfigError, match="must stay inside the workspace"):
            resolve_workdir("/ws", bad)
    cfg = config("doc_example_maven")
    with pytest.raises(ConfigError):
        stage_command(stage(working_dir="../x"), cfg, "/ws")


def test_load_config_raises_with_every_error_issue() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("stages: []\nunknown: 1\n")
    errors = caught.value.issues
    assert caught.value.message == f"ocelot.yml is invalid ({len(errors)} issues)"
    assert len(errors) == 3 and all(i.severity == "error" for i in errors)
    assert caught.value.to_dict()["issues"][0]["message"] == "BuildTool must be specified"


def test_starter_file_is_valid_and_commented() -> None:
    assert lint(STARTER_YML) == []
    cfg = load_config(STARTER_YML)
    assert cfg.image == "ocelot/busybox" and cfg.branches == ("ALL",)
    assert len(cfg.stages) == 2
    assert STARTER_YML.count("\n#") >= 5


def test_starter_file_stays_valid_with_its_optional_lines_uncommented() -> None:
    head, tail = STARTER_YML.split("  - name: test\n")
    tail = "\n".join(line.replace("# ", "", 1) for line in tail.splitlines())
    cfg = load_config(head + "  - name: test\n" + tail)
    test = cfg.stages[1]
    assert (test.timeout_seconds, test.retry, test.allow_failure) == (600, 1, True)
    assert stage_runs(test, Changeset("release/1.0"))[0]
    assert stage_runs(test, Changeset("dev", ["[run tests]"]))[0]
    assert not stage_runs(test, Changeset("dev", ["nope"]))[0]
    assert cfg.notify == {
        "slack": {
            "channel": "#builds",
            "identifier": "my-slack-credential",
            "on": ["FAIL", "FIXED"],
        },
        "email": {"to": ["team@example.com"], "on": ["FAIL"]},
    }
