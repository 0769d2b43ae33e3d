"""``ocelot build --wait`` / ``--follow`` as a real process against the real stack (HTTP API,
Redis, Celery worker, Docker): the result and exit code at the end, the log with a line per
stage, Ctrl-C leaving the build running, and polling when a proxy drops the log stream."""

from __future__ import annotations

import itertools
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests

from tests.fakes.http import FakeHTTPServer, Incoming, reply
from tests.servers import Process
from tests.stack import Stack, make_repo
from tests.unit.test_cli_waiting import CliProcess

pytestmark = [pytest.mark.docker, pytest.mark.slow]

YML = """\
image: ocelot/busybox
buildTool: shell
branches: [master]
stages:
  - name: first
    script: ["echo one-1", "sleep $NAP", "echo one-2"]
    env: ["NAP=1"]
  - name: second
    script: ["echo two-1", "sleep 1", "echo two-2", "exit $CODE"]
    env: ["CODE=0"]
"""
_names = itertools.count(1)


class DroppingProxy(FakeHTTPServer):
    """A loopback HTTP proxy in front of the stack that passes every request on, except the
    log stream (``?follow=1``): that it drops at once after a 200 (``drop``), or answers
    ``502 Bad Gateway`` (``bad-gateway``). ``requests`` lists ``(method, target)``."""

    methods = ("GET", "POST")

    def __init__(self, upstream: str, mode: str) -> None:
        self.upstream, self.mode = upstream, mode
        self.requests: list[tuple[str, str]] = []

    def handle(self, request: Incoming, h: BaseHTTPRequestHandler) -> None:
        self.record((request.method, request.target))
        if request.query.get("follow") == "1":
            if self.mode == "bad-gateway":
                reply(h, 502, b"<html>bad gateway</html>", "text/html")
                return
            h.send_response(200)  # the stream "opens", then the connection closes
            h.send_header("Content-Type", "text/event-stream")
            h.end_headers()
            return
        keep = ("Authorization", "Content-Type", "Accept", "X-Ocelot-Client", "User-Agent")
        headers = {k: v for k, v in request.headers.items() if k in keep}
        answer = requests.request(
            request.method,
            self.upstream + request.target,
            data=request.raw or None,
            headers=headers,
            timeout=30,
        )
        content_type = answer.headers.get("Content-Type", "application/json")
        reply(h, answer.status_code, answer.content, content_type)


@pytest.fixture
def repo(stack: Stack, tmp_path: Path) -> str:
    """A tracked repository whose two stages echo lines with sleeps in between."""
    make_repo(tmp_path / "origin", {"ocelot.yml": YML})
    return stack.add_repo(tmp_path / "origin", f"acme/follow{next(_names)}")


def _commit(tmp_path: Path, yml: str) -> None:
    make_repo(tmp_path / "origin", {"ocelot.yml": yml}, message="change")


def ocelot(stack: Stack, tmp_path: Path, *args: str, url: str | None = None) -> CliProcess:
    env = {
        "OCELOT_URL": url or stack.url,
        "OCELOT_TOKEN": stack.token,
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "COLUMNS": "100",
    }
    return CliProcess(list(args), env, tmp_path)


def _build_id(out: str) -> int:
    found = re.search(r"queued build #(\d+)", out)
    assert found, out
    return int(found.group(1))


def test_wait_returns_with_the_result_once_the_build_ends(
    stack: Stack, docker_worker: Process, tmp_path: Path, repo: str
) -> None:
    code, out, err = ocelot(stack, tmp_path, "build", repo, "-b", "master", "--wait").finish()
    build_id = _build_id(out)
    assert code == 0, (out, err)
    build = stack.get(build_id)
    assert build["status"] == "PASSED"
    assert "PASSED" in out and "first" in out and "second" in out  # the summary
    assert "one-1" not in out  # stdout is not a terminal: quiet, as before
    assert f"build #{build_id}: stage first" in err and f"build #{build_id}: stage second" in err


def test_follow_prints_a_header_per_stage_and_every_line_in_order(
    stack: Stack, docker_worker: Process, tmp_path: Path, repo: str
) -> None:
    code, out, err = ocelot(stack, tmp_path, "build", repo, "-b", "master", "--follow").finish()
    assert code == 0, (out, err)
    order = ["==> stage first", "one-1", "one-2", "==> stage second", "two-1", "two-2"]
    places = [out.index(text) for text in order]
    assert places == sorted(places), out
    for text in order:
        assert out.count(text) == 1, out
    assert out.rindex("PASSED") > places[-1]  # the summary comes after the log
    assert stack.get(_build_id(out))["status"] == "PASSED"


@pytest.mark.parametrize("flag", ["--wait", "--follow"])
def test_a_failing_build_exits_1(
    stack: Stack, docker_worker: Process, tmp_path: Path, repo: str, flag: str
) -> None:
    _commit(tmp_path, YML.replace("CODE=0", "CODE=3"))
    code, out, err = ocelot(stack, tmp_path, "build", repo, "-b", "master", flag).finish()
    build_id = _build_id(out)
    assert code == 1, (out, err)
    assert stack.get(build_id)["status"] == "FAILED"
    assert f"build #{build_id} FAILED: stage 'second' failed" in err
    assert ("two-2" in out) == (flag == "--follow")


def test_ctrl_c_stops_following_and_the_build_still_passes(
    stack: Stack, docker_worker: Process, tmp_path: Path, repo: str
) -> None:
    _commit(tmp_path, YML.replace("NAP=1", "NAP=4"))
    cli_process = ocelot(stack, tmp_path, "build", repo, "-b", "master", "--follow")
    try:
        cli_process.wait_for("one-1", timeout=90)
        cli_process.interrupt()
        code, out, err = cli_process.finish(60)
    finally:
        cli_process.stop()
    build_id = _build_id(out)
    assert code == 130, (out, err)
    assert f"stopped following; build #{build_id} keeps running" in err
    assert f"`ocelot status --build-id {build_id}`" in err
    assert "two-1" not in out and "Traceback" not in err
    assert stack.wait(build_id)["status"] == "PASSED"  # the build was not stopped
    assert "two-2" in stack.logs(build_id)


@pytest.mark.parametrize(
    ("mode", "flag"), [("drop", "--wait"), ("drop", "--follow"), ("bad-gateway", "--wait")]
)
def test_a_dropped_log_stream_falls_back_to_polling(
    stack: Stack, docker_worker: Process, tmp_path: Path, repo: str, mode: str, flag: str
) -> None:
    with DroppingProxy(stack.url, mode) as proxy:
        waiting = ocelot(stack, tmp_path, "build", repo, "-b", "master", flag, url=proxy.url)
        code, out, err = waiting.finish()
        seen = list(proxy.requests)
    build_id = _build_id(out)
    assert code == 0, (out, err)
    assert "PASSED" in out and stack.get(build_id)["status"] == "PASSED"
    followed = [t for m, t in seen if "follow=1" in t]
    assert len(followed) == 1  # tried once, not hammered
    polls = [t for m, t in seen if t == f"/api/v1/builds/{build_id}"]
    assert polls  # the result came from polling
    assert "Error:" not in err and "Traceback" not in err and "reconnecting" not in err
    assert ("the live log is not available" in err) == (flag == "--follow")


def test_the_log_stream_is_what_wait_follows(
    stack: Stack, docker_worker: Process, tmp_path: Path, repo: str
) -> None:
    """Through a proxy that passes the stream on, ``--wait`` reads it to its end and then
    asks for the build once, instead of polling."""

    class Recorder(DroppingProxy):
        def handle(self, request: Incoming, h: BaseHTTPRequestHandler) -> None:
            if request.query.get("follow") != "1":
                super().handle(request, h)
                return
            self.record((request.method, request.target))
            auth = {"Authorization": request.headers.get("Authorization", "")}
            with requests.get(
                self.upstream + request.target, headers=auth, stream=True, timeout=60
            ) as upstream:
                h.send_response(upstream.status_code)
                h.send_header("Content-Type", "text/event-stream")
                h.end_headers()
                for piece in upstream.iter_content(chunk_size=None):
                    h.wfile.write(piece)
                    h.wfile.flush()

    with Recorder(stack.url, "pass") as proxy:
        waiting = ocelot(stack, tmp_path, "build", repo, "-b", "master", "--wait", url=proxy.url)
        code, out, err = waiting.finish()
        seen = list(proxy.requests)
    build_id = _build_id(out)
    assert code == 0, (out, err)
    assert stack.get(build_id)["status"] == "PASSED"
    gets = [t for m, t in seen if t == f"/api/v1/builds/{build_id}"]
    assert len(gets) == 1, seen  # once, after the end event: no polling
