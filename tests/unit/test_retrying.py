"""ocelot.retrying: a transient database error is retried with backoff within a budget, then
reported as "database unreachable for N s while ..."; any other error passes at once."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from ocelot.errors import DatabaseUnreachable
from ocelot.retrying import is_transient, retry_db


def _refused() -> OperationalError:
    return OperationalError("UPDATE builds", {}, Exception("connection refused\n\tIs it up?"))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_blip_is_ridden_out() -> None:
    clock, calls = Clock(), []

    def unit() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise _refused()
        return "renewed"

    assert retry_db(unit, what="x", budget=30, sleep=clock.sleep, clock=lambda: clock.now) == (
        "renewed"
    )
    assert len(calls) == 4
    assert clock.sleeps == sorted(clock.sleeps) and clock.sleeps[0] < 1  # short, growing


def test_past_the_budget_the_reason_says_what_happened() -> None:
    clock = Clock()

    def unit() -> None:
        raise _refused()

    with pytest.raises(DatabaseUnreachable) as caught:
        retry_db(
            unit, what="renewing the lease of build 7", budget=40, sleep=clock.sleep,
            clock=lambda: clock.now,
        )  # fmt: skip
    assert caught.value.message == (
        "database unreachable for 40 s while renewing the lease of build 7 (connection refused)"
    )
    assert "Traceback" not in caught.value.message


def test_other_errors_are_not_retried() -> None:
    calls = []

    def unit() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(IntegrityError):
        retry_db(unit, what="x", budget=30, sleep=lambda _: None)
    assert calls == [1]
    sqlite_mistake = OperationalError("SELECT", {}, Exception("no such table: builds"))
    assert not is_transient(sqlite_mistake) and is_transient(_refused())
