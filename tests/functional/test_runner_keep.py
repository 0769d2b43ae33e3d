"""``OCELOT_KEEP_CONTAINERS``: a failed build keeps its environment, says where it is
(``kept_container``), and the janitors (at worker start and periodic) leave it alone until
``OCELOT_JANITOR_AGE`` after the build; ``ocelot admin prune`` removes it at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from ocelot.cli.main import cli
from ocelot.db import session_scope
from ocelot.executors import BuildKey
from ocelot.models import Build, utcnow
from ocelot.runner import leftovers
from ocelot.settings import Settings
from ocelot.status import BuildStatus
from tests.functional.runner_support import Runner, ocelot_yml, stage

FAILING = ocelot_yml(stage("broken", "echo about to fail", "exit 4"))
PASSING = ocelot_yml(stage("fine", "echo ok"))


def test_a_failed_build_keeps_its_environment_and_names_it(
    runner: Runner, client: FlaskClient, auth: dict[str, str]
) -> None:
    runner.configure(keep_containers=True)
    failed = runner.run(FAILING)
    key = BuildKey(failed["id"], 1)
    assert failed["status"] == BuildStatus.FAILED
    assert failed["kept_container"] == f"scripted:{key.slug}"
    assert runner.executor.calls_of("destroy") == []
    assert runner.executor.environments == {key}
    api = client.get(f"/api/v1/builds/{failed['id']}", headers=auth).get_json()
    assert api["kept_container"] == f"scripted:{key.slug}"

    passed = runner.run(PASSING)  # only failures are kept
    assert passed["status"] == BuildStatus.PASSED and passed["kept_container"] is None
    assert runner.executor.environments == {key}


def test_nothing_is_kept_without_the_setting(runner: Runner) -> None:
    failed = runner.run(FAILING)
    assert failed["kept_container"] is None
    assert runner.executor.environments == set()


def test_a_build_that_failed_before_its_environment_existed_names_nothing(
    runner: Runner,
) -> None:
    runner.configure(keep_containers=True)
    runner.executor.fail_prepare = "image ocelot/nope not found"
    build = runner.run(FAILING)
    assert build["status"] == BuildStatus.FAILED_PRESTART
    assert build["kept_container"] is None


def test_the_janitor_spares_a_kept_environment_until_the_age_limit(runner: Runner) -> None:
    runner.configure(keep_containers=True, janitor_age_seconds=3600.0)
    kept = runner.run(FAILING)["id"]
    crashed = runner.run(PASSING)["id"]
    runner.executor.environments.add(BuildKey(crashed, 1))  # a destroy that never happened

    # The janitor at worker start and the periodic one run this.
    assert leftovers.clean(runner.ctx) == [f"environment {crashed}-1"]
    assert runner.executor.environments == {BuildKey(kept, 1)}
    assert runner.build(kept)["kept_container"] == f"scripted:{kept}-1"
    assert leftovers.clean(runner.ctx) == []  # again: still kept

    with session_scope(runner.engine) as session:  # an hour and a bit later
        build = session.get(Build, kept)
        assert build is not None
        build.finished_at = utcnow() - timedelta(seconds=3601)
    assert leftovers.clean(runner.ctx) == [f"environment {kept}-1"]
    assert runner.executor.environments == set()
    assert runner.build(kept)["kept_container"] is None


def test_a_running_attempt_is_never_a_leftover(runner: Runner) -> None:
    runner.repo(PASSING)
    build_id = runner.queue()
    runner.start(build_id)
    assert leftovers.clean(runner.ctx) == []
    assert runner.executor.environments == {BuildKey(build_id, 1)}


def test_prune_removes_kept_environments_now(runner: Runner) -> None:
    runner.configure(keep_containers=True)
    first, second, third = (runner.run(FAILING)["id"] for _ in range(3))

    [one] = leftovers.remove_kept(runner.ctx, [second])
    assert (one.build_id, one.name, one.error) == (second, f"scripted:{second}-1", None)
    assert runner.build(second)["kept_container"] is None
    assert BuildKey(second, 1) not in runner.executor.environments

    runner.executor.fail_destroy = "docker daemon unreachable"
    [failed, _] = leftovers.remove_kept(runner.ctx)
    assert (failed.build_id, failed.error) == (first, "docker daemon unreachable")
    assert runner.build(first)["kept_container"] == f"scripted:{first}-1"  # for the next try

    runner.executor.fail_destroy = None
    assert [p.build_id for p in leftovers.remove_kept(runner.ctx)] == [first, third]
    assert runner.executor.environments == set()
    assert leftovers.remove_kept(runner.ctx) == []


def test_ocelot_admin_prune_removes_a_kept_workspace(
    runner: Runner, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command itself, server side: settings from the environment, the executor they
    name (here the local one, whose kept environment is a workspace directory)."""
    runner.configure(keep_containers=True)
    build_id = runner.run(FAILING)["id"]
    workspace = settings.workspaces / f"{build_id}-1"
    (workspace / "src").mkdir(parents=True)
    with session_scope(runner.engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        build.kept_container = str(workspace)
    for name, value in {
        "OCELOT_HOME": str(settings.home),
        "OCELOT_DATABASE_URL": settings.database_url,
        "OCELOT_BROKER_URL": settings.broker_url,
        "OCELOT_WORKER_EXECUTOR": "local",
    }.items():
        monkeypatch.setenv(name, value)

    result = CliRunner().invoke(cli, ["admin", "prune"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"removed {workspace} (build {build_id})\n"
    assert not Path(workspace).exists()
    assert runner.build(build_id)["kept_container"] is None

    again = CliRunner().invoke(cli, ["admin", "prune"], catch_exceptions=False)
    assert again.exit_code == 0 and again.stdout == ""
    assert "nothing kept to remove" in again.stderr
