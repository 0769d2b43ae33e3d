"""A build's ocelot.yml is parsed once per process, however many steps ask for it (route,
prepare, every stage, finish, notifications), against a real database and the local executor."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import Build
from ocelot.pipeline import LintResult, plan
from ocelot.runner import RunContext, finish, prepare, route, run_stage
from ocelot.services.builds import create_build
from ocelot.services.notifications import notify_config
from ocelot.services.repos import add_repo
from ocelot.settings import Settings
from ocelot.status import BuildStatus
from tests.stack import make_repo

YML = """\
image: ocelot/busybox
buildTool: shell
branches: [master]
notify:
  email:
    to: [team@example.com]
    on: [FAIL]
stages:
  - name: one
    script: ["echo one"]
  - name: two
    allow_failure: true
    script: ["echo two"]
  - name: three
    script: ["echo three"]
"""


def test_a_build_parses_its_ocelot_yml_once(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real_check = plan.check

    def counting_check(text: str) -> LintResult:
        parsed.append(text)
        return real_check(text)

    monkeypatch.setattr(plan, "check", counting_check)
    plan._parse_config.cache_clear()
    make_repo(tmp_path / "repo", {"ocelot.yml": YML})
    ctx = RunContext(settings.with_(worker_executor="local", worker_name="parse-once"), engine)
    with session_scope(engine) as session:
        add_repo(session, "acme/parse-once", str(tmp_path / "repo"))
        build_id = create_build(session, "acme/parse-once", branch="master").id

    assert route(ctx, build_id) == "builds"
    prepared = prepare(ctx, build_id)
    assert isinstance(prepared, tuple), prepared
    attempt, positions = prepared
    assert positions == [0, 1, 2]
    for position in positions:
        run_stage(ctx, build_id, attempt, position)
    finish(ctx, build_id, attempt)
    with session_scope(engine) as session:
        build = session.get(Build, build_id)
        assert build is not None
        assert build.status == BuildStatus.PASSED, build.failure_reason
        assert notify_config(build)["email"]["to"] == ["team@example.com"]

    # 2N+4 asked (route, prepare, N stages, N blocked-checks, finish, notify): one parse
    assert parsed == [YML]
    assert plan._parse_config.cache_info().hits >= 2 * len(positions) + 3
