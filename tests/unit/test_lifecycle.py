"""The build state machine: every move it allows keeps the state's fields in step, every
other move is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ocelot.lifecycle import IllegalMove, can_move, move
from ocelot.models import Build
from ocelot.status import BUILD_MOVES, FINISHED, BuildStatus


def build(status: BuildStatus) -> Build:
    return Build(id=1, status=status, lease_until=datetime.now(UTC), pending_reason="waiting")


@pytest.mark.parametrize("start", list(BuildStatus))
@pytest.mark.parametrize("to", list(BuildStatus))
def test_every_pair_of_states_is_either_a_move_or_refused(
    start: BuildStatus, to: BuildStatus
) -> None:
    row = build(start)
    if to in BUILD_MOVES.get(start, frozenset()):
        move(row, to, "why", pending="pending why")
        assert row.status == to
        if to in FINISHED:
            assert row.finished_at is not None and row.failure_reason == "why"
            assert row.lease_until is None and row.pending_reason is None
        if to in (BuildStatus.QUEUED, BuildStatus.PENDING_APPROVAL):
            assert row.pending_reason == "pending why" and row.lease_until is None
    else:
        with pytest.raises(IllegalMove, match=f"cannot go from {start} to {to}"):
            move(row, to)
        assert row.status == start


def test_finished_states_are_final() -> None:
    for done in FINISHED:
        assert not any(can_move(done, to) for to in BuildStatus)


def test_a_build_that_passes_has_no_failure_reason() -> None:
    row = build(BuildStatus.RUNNING)
    row.failure_reason = "stale"
    move(row, BuildStatus.PASSED)
    assert row.failure_reason is None
