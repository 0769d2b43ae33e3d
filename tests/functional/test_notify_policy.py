"""FIXED and CHANGED look at the previous build of the same branch, in the database."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.services.notifications import due_channels
from tests.functional.notify_support import finished_build

BOTH = """
slack:
  identifier: x
  on: [FIXED]
email:
  to: dev@example.com
  on: [CHANGED]
"""


def due(engine: Engine, build_id: int) -> list[str]:
    with session_scope(engine) as session:
        return due_channels(session, build_id)


def test_fixed_and_changed_follow_the_history_of_the_branch(engine: Engine) -> None:
    first = finished_build(engine, "PASSED", BOTH)
    assert due(engine, first) == []  # nothing before it: neither fixed nor changed
    broke = finished_build(engine, "FAILED", BOTH)
    assert due(engine, broke) == ["email"]  # changed, not fixed
    still = finished_build(engine, "FAILED", BOTH)
    assert due(engine, still) == []
    fixed = finished_build(engine, "PASSED", BOTH)
    assert due(engine, fixed) == ["slack", "email"]  # fixed and changed
    again = finished_build(engine, "PASSED", BOTH)
    assert due(engine, again) == []


def test_other_branches_and_killed_builds_do_not_count(engine: Engine) -> None:
    finished_build(engine, "FAILED", BOTH, branch="master")
    finished_build(engine, "PASSED", BOTH, branch="feature")  # another branch
    finished_build(engine, "KILLED", BOTH, branch="master")  # no result: passed over
    fixed = finished_build(engine, "PASSED", BOTH, branch="master")
    assert due(engine, fixed) == ["slack", "email"]
    killed = finished_build(engine, "KILLED", BOTH, branch="master")
    assert due(engine, killed) == []


def test_a_file_without_notify_or_with_an_empty_on_list_notifies_nobody(engine: Engine) -> None:
    quiet = finished_build(engine, "FAILED", "slack:\n  identifier: x")
    assert due(engine, quiet) == []
