"""``machineTag`` builds go to ``builds.<tag>`` and run only on a worker with that tag."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.stack import Stack, make_repo
from tests.waiting import eventually

YML = """\
machineTag: {tag}
buildTool: shell
branches: [ALL]
stages:
  - name: where
    script:
      - echo "ran in $WORKSPACE"
      - test -f ocelot.yml
"""


def test_machine_tag_build_runs_on_the_tagged_local_worker_only(
    stack: Stack, repo_dir: Path
) -> None:
    untagged = stack.start_worker("untagged-local", executor="local")
    try:
        make_repo(repo_dir, {"ocelot.yml": YML.format(tag="macos")})
        repo = stack.add_repo(repo_dir)
        build_id = stack.build(repo, branch="master")

        # With only an untagged worker up, the build waits and says why.
        def waiting_for_macos() -> dict[str, Any] | None:
            build = stack.get(build_id)
            return build if "macos" in (build["pending_reason"] or "") else None

        build = eventually(waiting_for_macos, 20, "a pending reason naming macos", interval=0.2)
        assert build["status"] == "QUEUED", build
        assert "builds.macos" in build["pending_reason"]
        time.sleep(2)
        assert stack.get(build_id)["status"] == "QUEUED"
        tagged = stack.start_worker("tagged-local", executor="local", tags=("macos",))
        try:
            done = stack.wait(build_id)
        finally:
            stack.stop_worker(tagged)
    finally:
        stack.stop_worker(untagged)
    assert done["status"] == "PASSED", stack.logs(build_id)
    assert done["worker"] == "tagged-local"
    assert f"ran in {stack.settings.home}" in stack.logs(build_id)
