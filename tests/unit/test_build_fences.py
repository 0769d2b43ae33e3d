"""Build fences: the OCELOT_BUILD_* and OCELOT_MAX_LOG_BYTES settings, the limits each
executor is given, and the redactor's rule for unfinished lines (split secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocelot.errors import InvalidRequest
from ocelot.executors import ResourceLimits, limits_from, make_executor
from ocelot.executors.docker import CAP_DROP, DockerExecutor
from ocelot.executors.local import LocalExecutor
from ocelot.secrets.redaction import MASK, make_redactor
from ocelot.settings import load_settings


def settings(**env: str):  # type: ignore[no-untyped-def]
    return load_settings({"OCELOT_HOME": "/x", **env})


def test_defaults_fence_every_build() -> None:
    s = settings()
    assert s.build_memory == 4 * 1024**3
    assert s.build_cpus == 2.0 and s.build_pids == 1024
    assert s.build_timeout_seconds == 3600.0
    assert s.max_log_bytes == 256 * 1024**2 > 100 * 1000**2  # a 100 MB log fits


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2g", 2 << 30), ("512m", 512 << 20), ("512MiB", 512 << 20), ("1.5G", 3 << 29),
     ("10485760", 10485760), ("8192k", 8 << 20), ("0", 0)],
)  # fmt: skip
def test_memory_takes_docker_style_sizes(value: str, expected: int) -> None:
    assert settings(OCELOT_BUILD_MEMORY=value).build_memory == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("1h", 3600.0), ("1.5h", 5400.0), ("0", 0)],
)
def test_timeout_takes_seconds_or_units(value: str, expected: float) -> None:
    assert settings(OCELOT_BUILD_TIMEOUT=value).build_timeout_seconds == expected


def test_other_fences_are_read() -> None:
    s = settings(OCELOT_BUILD_CPUS="0.5", OCELOT_BUILD_PIDS="256", OCELOT_MAX_LOG_BYTES="64k")
    assert (s.build_cpus, s.build_pids, s.max_log_bytes) == (0.5, 256, 65536)
    off = settings(OCELOT_BUILD_CPUS="0", OCELOT_BUILD_PIDS="0", OCELOT_MAX_LOG_BYTES="0")
    assert (off.build_cpus, off.build_pids, off.max_log_bytes) == (0, 0, 0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OCELOT_BUILD_MEMORY", "lots", "OCELOT_BUILD_MEMORY must be a size in bytes"),
        ("OCELOT_BUILD_MEMORY", "2x", "e.g. 512m, 2g"),
        ("OCELOT_BUILD_MEMORY", "1m", "OCELOT_BUILD_MEMORY must be at least 6m"),
        ("OCELOT_BUILD_MEMORY", "-1g", "OCELOT_BUILD_MEMORY must be a size"),
        ("OCELOT_BUILD_CPUS", "two", "OCELOT_BUILD_CPUS must be a number"),
        ("OCELOT_BUILD_CPUS", "-1", "OCELOT_BUILD_CPUS must be at least 0.01"),
        ("OCELOT_BUILD_CPUS", "inf", "OCELOT_BUILD_CPUS must be at least"),
        ("OCELOT_BUILD_PIDS", "many", "OCELOT_BUILD_PIDS must be a whole number"),
        ("OCELOT_BUILD_PIDS", "3", "OCELOT_BUILD_PIDS must be at least 16"),
        ("OCELOT_BUILD_TIMEOUT", "1d", "OCELOT_BUILD_TIMEOUT must be a duration"),
        ("OCELOT_MAX_LOG_BYTES", "10", "OCELOT_MAX_LOG_BYTES must be at least 1k"),
    ],
)
def test_bad_fences_say_which_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        settings(**{name: value})


def test_executors_get_the_limits_and_0_means_none() -> None:
    s = settings(OCELOT_BUILD_MEMORY="1g", OCELOT_BUILD_CPUS="1.5", OCELOT_BUILD_PIDS="300")
    assert limits_from(s) == ResourceLimits(memory=1 << 30, cpus=1.5, pids=300)
    docker_executor = make_executor(s)
    assert isinstance(docker_executor, DockerExecutor)
    assert docker_executor.limits == limits_from(s)
    local = make_executor(s.with_(worker_executor="local"))
    assert isinstance(local, LocalExecutor) and local.limits.memory == 1 << 30
    off = settings(OCELOT_BUILD_MEMORY="0", OCELOT_BUILD_CPUS="0", OCELOT_BUILD_PIDS="0")
    assert limits_from(off) == ResourceLimits()


class _FakeDocker:
    def info(self) -> dict[str, int]:
        return {"NCPU": 2}


def test_docker_fences_every_container() -> None:
    executor = DockerExecutor("w", limits=ResourceLimits(memory=1 << 30, cpus=8, pids=100))
    fences = executor.fences(_FakeDocker())  # type: ignore[arg-type]
    assert fences["mem_limit"] == fences["memswap_limit"] == 1 << 30  # no swap beyond
    assert fences["nano_cpus"] == 2 * 10**9  # no more CPUs than the daemon has
    assert fences["pids_limit"] == 100
    assert fences["security_opt"] == ["no-new-privileges"]
    assert set(fences["cap_drop"]) == set(CAP_DROP) >= {"NET_RAW", "MKNOD", "SYS_CHROOT"}
    unlimited = DockerExecutor("w").fences(_FakeDocker())  # type: ignore[arg-type]
    assert unlimited == {"security_opt": ["no-new-privileges"], "cap_drop": list(CAP_DROP)}


# -- split secrets ---------------------------------------------------------------------------


def stream(redact, pieces: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    """What a log writer stores when every piece is followed by a flush of the unfinished
    line: the safe part of what is pending, redacted; the held tail waits."""
    stored, pending = [], ""
    for piece in pieces:
        pending += piece
        hold = redact.tail_to_hold(pending)
        stored.append(redact(pending[: len(pending) - hold]))
        pending = pending[len(pending) - hold :]
    stored.append(redact(pending))  # the end of the output
    return stored


def test_a_secret_in_two_halves_is_held_then_masked() -> None:
    redact = make_redactor(["secret-value"])
    assert redact.tail_to_hold("token: secret-") == len("secret-")
    assert redact.tail_to_hold("token: s") == 1
    assert redact.tail_to_hold("token: nothing") == 0
    assert stream(redact, ["token: secret-", "value done"]) == ["token: ", f"{MASK} done", ""]


def test_a_tail_that_would_split_a_whole_secret_is_held_from_its_start() -> None:
    # "cd" may begin "cdxy"; cutting there would split "abcd" into "ab" + "cd".
    redact = make_redactor(["abcd", "cdxy"])
    assert redact.tail_to_hold("zzabcd") == 4
    assert "".join(stream(redact, ["zzabcd", "!"])) == f"zz{MASK}!"


def test_no_secret_held_back_without_fragments() -> None:
    assert make_redactor([]).tail_to_hold("anything") == 0
    assert make_redactor(["ab"]).tail_to_hold("xa") == 0  # too short to be masked at all


TEXT = st.text(alphabet="abc-", max_size=30)
SECRETS = st.lists(st.text(alphabet="abc-", min_size=4, max_size=8), min_size=1, max_size=3)


@given(SECRETS, st.lists(TEXT, min_size=1, max_size=6))
def test_pieces_are_redacted_as_the_whole_line_would_be(
    secrets: list[str], pieces: list[str]
) -> None:
    redact = make_redactor(secrets)
    stored = stream(redact, pieces)
    assert "".join(stored) == redact("".join(pieces))
    for piece in stored:
        for secret in secrets:
            assert secret not in piece


def test_the_redactor_is_still_a_plain_callable() -> None:
    redact = make_redactor(["hunter22"])
    assert redact("pw hunter22") == f"pw {MASK}"
    assert make_redactor([])("as is") == "as is"


def test_executors_made_directly_have_no_limits(tmp_path: Path) -> None:
    assert LocalExecutor(tmp_path, "w").limits == ResourceLimits()
    assert DockerExecutor("w").limits == ResourceLimits()
