"""The metrics settings (``OCELOT_METRICS_*``), the bearer check and the multiprocess
directory a process tree gets (ocelot/metrics_setup.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ocelot.errors import InvalidRequest
from ocelot.metrics_setup import MULTIPROC_ENV, MetricsConfig, use_multiprocess_dir
from ocelot.settings import load_settings


def test_the_worker_endpoint_is_off_unless_a_port_is_given() -> None:
    assert load_settings({}).metrics == MetricsConfig(port=0, addr="0.0.0.0", token=None)
    given = load_settings(
        {
            "OCELOT_METRICS_PORT": "9464",
            "OCELOT_METRICS_ADDR": "10.0.0.5",
            "OCELOT_METRICS_TOKEN": "t0ken",
        }
    ).metrics
    assert (given.port, given.addr, given.token) == (9464, "10.0.0.5", "t0ken")
    assert "t0ken" not in repr(given)


@pytest.mark.parametrize("raw", ["http", "-1", "70000", "9464.5"])
def test_a_port_that_is_no_port_is_refused_by_name(raw: str) -> None:
    with pytest.raises(InvalidRequest, match="OCELOT_METRICS_PORT must be a TCP port"):
        load_settings({"OCELOT_METRICS_PORT": raw})


def test_the_token_is_a_bearer_token_when_one_is_set() -> None:
    assert MetricsConfig().allows(None)
    config = MetricsConfig(token="s3cret")
    assert config.allows("Bearer s3cret") and config.allows("bearer s3cret")
    for header in (None, "", "Bearer", "Bearer s3cre", "Basic s3cret", "s3cret"):
        assert not config.allows(header), header


def test_a_given_directory_is_emptied_of_an_earlier_runs_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"old")
    (given / "README").write_text("kept")
    monkeypatch.setenv(MULTIPROC_ENV, str(given))
    assert use_multiprocess_dir("web") == given
    assert sorted(p.name for p in given.iterdir()) == ["README"]


def test_without_one_a_new_directory_is_made_and_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "")  # empty = unset; undone after the test
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    made = use_multiprocess_dir("worker")
    assert made.parent == tmp_path and made.name.startswith("ocelot-worker-metrics-")
    assert os.environ[MULTIPROC_ENV] == str(made)
