"""When to notify: PASS, FAIL, FIXED (passed after a failure), CHANGED (result differs)."""

from __future__ import annotations

import pytest

from ocelot.notifiers.policy import events, result_of, wanted


@pytest.mark.parametrize(
    ("status", "previous", "expected"),
    [
        ("PASSED", None, {"PASS"}),
        ("FAILED", None, {"FAIL"}),
        ("FAILED_PRESTART", None, {"FAIL"}),
        ("PASSED", "PASS", {"PASS"}),
        ("FAILED", "FAIL", {"FAIL"}),
        ("PASSED", "FAIL", {"PASS", "FIXED", "CHANGED"}),
        ("FAILED", "PASS", {"FAIL", "CHANGED"}),
        ("KILLED", "PASS", set()),
        ("SKIPPED", "FAIL", set()),
        ("RUNNING", None, set()),
    ],
)
def test_events_of_a_build(status: str, previous: str | None, expected: set[str]) -> None:
    assert events(status, previous) == expected


def test_results_only_for_finished_pass_or_fail() -> None:
    assert [result_of(s) for s in ("PASSED", "FAILED", "FAILED_PRESTART", "KILLED")] == [
        "PASS",
        "FAIL",
        "FAIL",
        None,
    ]


def test_wanted_matches_the_on_list_case_insensitively_in_a_stable_order() -> None:
    found = events("PASSED", "FAIL")
    assert wanted(["changed", "FIXED"], found) == ["FIXED", "CHANGED"]
    assert wanted(["FAIL"], found) == []
    assert wanted([], found) == []


def test_the_original_pass_fail_lists_keep_their_meaning() -> None:
    assert wanted(["PASS", "FAIL"], events("PASSED", None)) == ["PASS"]
    assert wanted(["PASS", "FAIL"], events("FAILED", "FAIL")) == ["FAIL"]
    assert wanted(["FAIL"], events("PASSED", "PASS")) == []


def test_fixed_fires_once_and_not_on_a_second_pass() -> None:
    assert wanted(["FIXED"], events("PASSED", "FAIL")) == ["FIXED"]
    assert wanted(["FIXED"], events("PASSED", "PASS")) == []
    assert wanted(["FIXED"], events("FAILED", "FAIL")) == []
