"""End to end: a build request → Celery chain → Docker → database → logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest

from tests.servers import Process
from tests.stack import Stack, make_repo
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

YML = """\
image: ocelot/busybox
buildTool: shell
branches:
  - master
  - release/.*
env:
  - "FROM_FILE=file-level"
stages:
{stages}
"""


def assert_gone(labels: dict[str, list[str]], within: float = 5.0) -> None:
    """The build's containers and volumes are removed right after its status is final."""
    client = docker.from_env()

    def gone() -> bool:
        return not client.api.containers(all=True, filters=labels) and not client.volumes.list(
            filters=labels
        )

    eventually(gone, within, f"the containers and volumes of {labels} to go")


def yml(stages: str) -> str:
    return YML.format(stages=stages)


def test_a_build_passes_in_docker(stack: Stack, docker_worker: Process, repo_dir: Path) -> None:
    commit = make_repo(
        repo_dir,
        {
            "ocelot.yml": yml(
                "  - name: hello\n    script:\n"
                "      - echo hello from $OCELOT_STAGE\n      - test -f ocelot.yml\n"
            )
        },
    )
    repo = stack.add_repo(repo_dir)
    build = stack.wait(stack.build(repo, branch="master"))
    assert build["status"] == "PASSED", (build, stack.logs(build["id"]))
    assert build["hash"] == commit
    assert build["worker"] == "docker-1"
    assert build["queue_wait_seconds"] is not None and build["duration_seconds"] is not None
    [stage] = build["stages"]
    assert stage["status"] == "PASSED" and stage["exit_code"] == 0
    assert "hello from hello" in stack.logs(build["id"])
    labels = {"label": [f"ocelot.build_id={build['id']}"]}
    assert_gone(labels)


def test_second_stage_exit_3_fails_the_build_and_skips_the_third(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    make_repo(
        repo_dir,
        {
            "ocelot.yml": yml(
                '  - name: one\n    script: ["echo one"]\n'
                '  - name: two\n    script: ["echo two", "exit 3", "echo never"]\n'
                '  - name: three\n    script: ["echo three > /workspace/three"]\n'
            )
        },
    )
    build = stack.wait(stack.build(stack.add_repo(repo_dir), branch="master"))
    assert build["status"] == "FAILED"
    one, two, three = build["stages"]
    assert (one["status"], one["exit_code"]) == ("PASSED", 0)
    assert (two["status"], two["exit_code"]) == ("FAILED", 3)
    assert three["status"] == "SKIPPED" and three["exit_code"] is None
    assert "two" in build["failure_reason"] and "exit code 3" in build["failure_reason"]
    log = stack.logs(build["id"])
    assert "two" in log and "never" not in log


def test_environment_is_visible_to_the_script(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    names = [
        "CI",
        "OCELOT",
        "BUILD_ID",
        "GIT_HASH",
        "GIT_HASH_SHORT",
        "GIT_BRANCH",
        "WORKSPACE",
        "OCELOT_REPO",
        "OCELOT_STAGE",
        "OCELOT_TRIGGER",
        "OCELOT_TRIGGERED_BY",
        "FROM_FILE",
        "FROM_STAGE",
    ]
    script = "".join(f'      - echo "{n}=${n}"\n' for n in names)
    script += '      - echo "PREV=[$GIT_PREVIOUS_SUCCESSFUL_COMMIT]"\n'
    commit = make_repo(
        repo_dir,
        {
            "ocelot.yml": yml(
                f'  - name: envstage\n    env: ["FROM_STAGE=stage-level", "FROM_FILE=overridden"]\n'
                f"    script:\n{script}"
            )
        },
    )
    repo = stack.add_repo(repo_dir)
    build = stack.wait(stack.build(repo, branch="master"))
    assert build["status"] == "PASSED", stack.logs(build["id"])
    log = stack.logs(build["id"])
    expected = {
        "CI": "true",
        "OCELOT": "true",
        "BUILD_ID": str(build["id"]),
        "GIT_HASH": commit,
        "GIT_HASH_SHORT": commit[:7],
        "GIT_BRANCH": "master",
        "WORKSPACE": "/workspace",
        "OCELOT_REPO": repo,
        "OCELOT_STAGE": "envstage",
        "OCELOT_TRIGGER": "api",
        "OCELOT_TRIGGERED_BY": "integration",
        "FROM_FILE": "overridden",
        "FROM_STAGE": "stage-level",
    }
    for key, value in expected.items():
        assert f"{key}={value}\n" in log, (key, log)
    assert "PREV=[]" in log
    second = stack.wait(stack.build(repo, branch="master"))
    assert f"PREV=[{commit}]" in stack.logs(second["id"])


def test_working_dir_is_where_the_stage_runs(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    make_repo(
        repo_dir,
        {
            "sub/dir/marker.txt": "here\n",
            "ocelot.yml": yml(
                "  - name: inside\n    working_dir: sub/dir\n"
                '    script: ["pwd", "cat marker.txt"]\n'
            ),
        },
    )
    build = stack.wait(stack.build(stack.add_repo(repo_dir), branch="master"))
    assert build["status"] == "PASSED", stack.logs(build["id"])
    log = stack.logs(build["id"])
    assert "/workspace/sub/dir\n" in log and "here\n" in log


def test_branch_filter_refuses_unless_forced(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    make_repo(
        repo_dir, {"ocelot.yml": yml('  - name: s\n    script: ["echo built"]\n')}, branch="develop"
    )
    repo = stack.add_repo(repo_dir)
    refused = stack.wait(stack.build(repo, branch="develop"))
    assert refused["status"] == "SKIPPED"
    assert refused["failure_reason"] == (
        "branch develop not in the acceptable branches list: master, release/.*"
    )
    assert refused["stages"] == [] and stack.logs(refused["id"]) == ""
    forced = stack.wait(stack.build(repo, branch="develop", force=True))
    assert forced["status"] == "PASSED" and "built" in stack.logs(forced["id"])


def test_invalid_ocelot_yml_fails_before_start_with_every_issue(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    make_repo(repo_dir, {"ocelot.yml": "image: x\nmachineTag: y\nstages: []\n"})
    build = stack.wait(stack.build(stack.add_repo(repo_dir), branch="master"))
    assert build["status"] == "FAILED_PRESTART"
    reason = build["failure_reason"]
    assert "mutually exclusive" in reason
    assert "BuildTool must be specified" in reason
    assert "at least one stage" in reason


def test_missing_image_fails_before_start(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    make_repo(
        repo_dir,
        {
            "ocelot.yml": yml('  - name: s\n    script: ["true"]\n').replace(
                "ocelot/busybox", "ocelot/does-not-exist:1"
            )
        },
    )
    build = stack.wait(stack.build(stack.add_repo(repo_dir), branch="master"))
    assert build["status"] == "FAILED_PRESTART"
    assert "ocelot/does-not-exist:1" in build["failure_reason"]


def test_log_of_a_long_stage_is_readable_before_it_ends(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    make_repo(
        repo_dir,
        {
            "ocelot.yml": yml(
                "  - name: slow\n    script:\n      - echo first-line\n      - sleep 6\n"
                "      - echo last-line\n"
            )
        },
    )
    build_id = stack.build(stack.add_repo(repo_dir), branch="master")

    def first_line() -> tuple[dict[str, Any], str] | None:
        build, log = stack.get(build_id), stack.logs(build_id)
        return (build, log) if "first-line" in log else None

    build, log = eventually(first_line, 60, "the first line while the stage runs")
    assert build["status"] == "RUNNING", build
    assert build["stages"][0]["status"] == "RUNNING"
    assert "last-line" not in log
    assert stack.wait(build_id)["status"] == "PASSED"
    assert "last-line" in stack.logs(build_id)


def test_kill_a_running_build(stack: Stack, docker_worker: Process, repo_dir: Path) -> None:
    make_repo(
        repo_dir,
        {
            "ocelot.yml": yml(
                '  - name: forever\n    script: ["echo started", "sleep 300"]\n'
                '  - name: after\n    script: ["echo after"]\n'
            )
        },
    )
    build_id = stack.build(stack.add_repo(repo_dir), branch="master")
    eventually(lambda: "started" in stack.logs(build_id), 60, "the stage to start")
    resp = stack.client.post(f"/api/v1/builds/{build_id}/kill", headers=stack.auth)
    assert resp.status_code == 200
    build = stack.wait(build_id, timeout=30)
    assert build["status"] == "KILLED"
    assert build["failure_reason"] == "killed by integration"
    forever, after = build["stages"]
    assert forever["status"] == "KILLED" and "killed by integration" in forever["messages"]
    assert after["status"] == "SKIPPED"
    assert after["messages"] == ["not run: build killed by integration"]
    labels = {"label": [f"ocelot.build_id={build_id}"]}
    assert_gone(labels)


def test_an_exception_in_a_task_fails_the_build_with_the_error(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    from ocelot.db import session_scope
    from ocelot.models import Build, Repo
    from worker.app import make_celery

    make_repo(repo_dir, {"ocelot.yml": yml('  - name: s\n    script: ["true"]\n')})
    repo = stack.add_repo(repo_dir)
    with session_scope(stack.engine) as session:
        row = session.query(Repo).filter_by(full_name=repo).one()
        # A routed build whose stored file no longer parses: prepare raises as it claims it.
        build = Build(repo=row, branch="master", hash="0" * 40, config_text="stages: [", history=[])
        session.add(build)
        session.flush()
        build_id = build.id
    make_celery(stack.settings).send_task("ocelot.builds.prepare", args=[build_id], queue="builds")
    build = stack.wait(build_id, timeout=60)
    # The claim and the stage rows are one transaction: the error undid the claim, so the
    # build ends as one that never started.
    assert build["status"] == "FAILED_PRESTART"
    assert build["failure_reason"].startswith(
        "internal error in ocelot.builds.prepare: ConfigError"
    )
    assert "Traceback" not in stack.logs(build_id)
    worker_log = docker_worker.log.read_text()
    assert "Traceback" in worker_log and f"failed for build {build_id}" in worker_log


def test_stage_and_build_timeouts_fail_the_build(
    stack: Stack, docker_worker: Process, repo_dir: Path
) -> None:
    make_repo(
        repo_dir,
        {"ocelot.yml": yml('  - name: slow\n    timeout: 1s\n    script: ["sleep 30"]\n')},
    )
    repo = stack.add_repo(repo_dir)
    build = stack.wait(stack.build(repo, branch="master"), timeout=30)
    assert build["status"] == "FAILED"
    [stage] = build["stages"]
    assert stage["status"] == "FAILED" and stage["duration_seconds"] < 10
    assert any("timeout" in m for m in stage["messages"]), stage
    # A build-level timeout is a deadline across stages.
    make_repo(
        repo_dir,
        {
            "ocelot.yml": yml(
                '  - name: one\n    script: ["sleep 1.5"]\n'
                '  - name: two\n    script: ["sleep 30"]\n'
                '  - name: three\n    script: ["true"]\n'
            ).replace("stages:", "timeout: 3s\nstages:")
        },
        message="deadline",
    )
    build = stack.wait(stack.build(repo, branch="master"), timeout=40)
    one, two, three = build["stages"]
    assert build["status"] == "FAILED" and one["status"] == "PASSED"
    assert two["status"] == "FAILED"
    assert "timeout: the build ran longer than its timeout" in two["messages"]
    assert three["status"] == "SKIPPED"
    assert "timeout" in build["failure_reason"]
