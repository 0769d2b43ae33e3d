"""Terminal rendering: durations, colours from the config, and 80 columns."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest

from ocelot.cli.config import ClientConfig
from ocelot.cli.output import build_view, duration, make_console, repos_table, summary_table
from tests.unit.test_cli_commands import make_build


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0.0s"),
        (0.4, "0.4s"),
        (9.94, "9.9s"),
        (9.96, "10s"),
        (45.6, "46s"),
        (62, "1m02s"),
        (600, "10m00s"),
        (3600, "1h00m00s"),
        (7322, "2h02m02s"),
        (-3, "0.0s"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def render(renderable: object, config: ClientConfig, color: bool = False) -> str:
    out = io.StringIO()
    terminal: dict[str, Any] = {"force_terminal": True, "color_system": "standard"} if color else {}
    make_console(config, width=80, file=out, **terminal).print(renderable)
    return out.getvalue()


def test_everything_fits_80_columns_without_colour() -> None:
    long = make_build(
        99999,
        "FAILED_PRESTART",
        branch="b" * 70,
        triggered_by="x" * 50,
        failure_reason="r " * 100,
        worker="w" * 90,
        repo="a" * 30 + "/" + "b" * 30,
    )
    long["stages"][0].update(name="n" * 50, messages=["m" * 200, "a [b]c[/b] message"])
    repo = {
        "full_name": "acme/" + "d" * 60,
        "vcs_type": "bitbucket",
        "group": "g" * 30,
        "url": "https://bitbucket.org/" + "u" * 100,
    }
    config = ClientConfig(no_color=True)
    for renderable in (
        build_view(long),
        summary_table([long]),
        summary_table([long], with_repo=True),
        repos_table([repo]),
    ):
        out = render(renderable, config)
        assert max(len(line) for line in out.splitlines()) <= 80, out
        assert "\x1b[" not in out
    assert "a [b]c[/b] message" in render(build_view(long), config)


def test_status_colours_come_from_the_config() -> None:
    config = ClientConfig()
    config = replace(config, colors={**config.colors, "FAILED": "magenta"})
    out = render(summary_table([make_build(1, "FAILED")]), config, color=True)
    assert "\x1b[35mFAILED" in out
    plain = render(
        summary_table([make_build(1, "FAILED")]), replace(config, no_color=True), color=True
    )
    assert "\x1b[35m" not in plain


def test_status_shows_earlier_attempts() -> None:
    build = make_build(7, "PASSED", worker="w2")
    build.update(attempt=2, attempts=[{"attempt": 1, "worker": "w1", "reason": "worker lost: w1"}])
    out = render(build_view(build), ClientConfig(no_color=True))
    assert "attempt     2 (1: worker lost: w1)" in out
    build.update(attempt=1, attempts=[])
    assert "attempt " not in render(build_view(build), ClientConfig(no_color=True))


def test_status_shows_the_last_notification_attempt_per_channel() -> None:
    build = make_build(8, "FAILED")
    build["notifications"] = [
        {
            "channel": "slack",
            "target": "#builds",
            "attempt": 1,
            "outcome": "failed",
            "error": "HTTP 500",
        },
        {"channel": "slack", "target": "#builds", "attempt": 2, "outcome": "sent", "error": None},
        {
            "channel": "email",
            "target": "dev@example.com",
            "attempt": 1,
            "outcome": "failed",
            "error": "no SMTP host",
        },
    ]
    out = " ".join(render(build_view(build), ClientConfig(no_color=True)).split())  # unfold
    assert "slack #builds: sent (2 attempts)" in out
    assert "email dev@example.com: failed — no SMTP host" in out


def test_status_says_how_to_get_into_a_kept_container() -> None:
    build = make_build(9, "FAILED")
    build["kept_container"] = "ocelot-3f2a9c1d-9-1"
    out = render(build_view(build), ClientConfig(no_color=True))
    assert "debug       docker exec -it ocelot-3f2a9c1d-9-1 sh" in out
    build["kept_container"] = "/srv/ocelot/workspaces/9-1"  # the local executor's workspace
    assert "debug       cd /srv/ocelot/workspaces/9-1" in render(
        build_view(build), ClientConfig(no_color=True)
    )
    build["kept_container"] = None
    assert "debug" not in render(build_view(build), ClientConfig(no_color=True))
