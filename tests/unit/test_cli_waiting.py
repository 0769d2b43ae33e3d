"""``--wait`` / ``--follow`` of the build commands against a real HTTP server on loopback:
the ``end`` event ends the wait, a missing or broken stream falls back to polling, the log
prints with a line per stage, a terminal makes ``--wait`` follow, Ctrl-C exits 130.

:class:`CliProcess` (``ocelot`` as a child process, stdout on a pipe or a pseudo-terminal)
is shared with tests/integration/test_cli_follow.py.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ocelot.cli.app import App
from ocelot.cli.main import cli
from ocelot.cli.output import stage_header
from ocelot.cli.waiting import LogPrinter
from tests.unit.test_cli_client import FakeServer, Stream
from tests.unit.test_cli_commands import make_build
from tests.waiting import eventually

BUILDS = "/api/v1/repos/acme/demo/builds"
BUILD = "/api/v1/builds/11"
LOGS = "/api/v1/builds/11/logs"
# The console script, except that Ctrl-C is made to raise KeyboardInterrupt even when this
# test runs with SIGINT ignored (a background job), as it does in any shell's foreground.
ENTRY = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler);"
    "from ocelot.cli.main import main; main()"
)


class CliProcess:
    """``ocelot ARGS`` as a child process; stdout on a pipe, or on a pseudo-terminal with
    ``tty``. Both streams are read as they come (``wait_for`` some text)."""

    def __init__(
        self, args: list[str], env: Mapping[str, str], cwd: Path, *, tty: bool = False
    ) -> None:
        self._out = bytearray()
        self._err = bytearray()
        full_env = {**os.environ, **env}
        if tty:
            master, slave = pty.openpty()
            self.proc = subprocess.Popen(
                [sys.executable, "-c", ENTRY, *args],
                stdin=subprocess.DEVNULL,
                stdout=slave,
                stderr=subprocess.PIPE,
                env=full_env,
                cwd=cwd,
            )
            os.close(slave)
            out_reader = threading.Thread(target=self._read_fd, args=(master,), daemon=True)
        else:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", ENTRY, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full_env,
                cwd=cwd,
            )
            assert self.proc.stdout is not None
            out_reader = threading.Thread(
                target=self._read_fd, args=(self.proc.stdout.fileno(),), daemon=True
            )
        assert self.proc.stderr is not None
        err_reader = threading.Thread(
            target=self._read_fd, args=(self.proc.stderr.fileno(), self._err), daemon=True
        )
        self._readers = [out_reader, err_reader]
        for reader in self._readers:
            reader.start()

    def _read_fd(self, fd: int, into: bytearray | None = None) -> None:
        target = self._out if into is None else into
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # a pseudo-terminal whose other end closed: EIO
                data = b""
            if not data:
                break
            target.extend(data)
        if into is None and self.proc.stdout is None:
            os.close(fd)  # the pty's master end is ours to close

    @property
    def stdout(self) -> str:
        return bytes(self._out).decode(errors="replace").replace("\r\n", "\n")

    @property
    def stderr(self) -> str:
        return bytes(self._err).decode(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        eventually(
            lambda: text in self.stdout or self.proc.poll() is not None,
            timeout,
            lambda: f"{text!r} in the output of ocelot: {self.stdout!r} {self.stderr!r}",
        )
        assert text in self.stdout, (self.stdout, self.stderr)

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        """Wait for the exit; ``(exit code, stdout, stderr)``. Killed if it does not exit."""
        try:
            code = self.proc.wait(timeout)
        finally:
            self.stop()
        for reader in self._readers:
            reader.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code, self.stdout, self.stderr

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _cli_env(server: FakeServer, tmp_path: Path) -> dict[str, str]:
    return {
        "OCELOT_URL": server.url,
        "OCELOT_TOKEN": "tok",
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "COLUMNS": "80",
    }


@pytest.fixture
def run(server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``ocelot ARGS`` in-process (stdout is not a terminal), pointed at the fake."""
    monkeypatch.chdir(tmp_path)
    env: dict[str, str | None] = {**_cli_env(server, tmp_path), "OCELOT_CONFIG": None}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def _log(out: Stream, seq: int, stage: str | None, text: str) -> None:
    out.event("log", {"seq": seq, "stage": stage, "text": text})


def _queue(server: FakeServer) -> None:
    queued = make_build(11, "QUEUED", hash=None, branch="wip", stages=[])
    server.json("POST", BUILDS, queued, 201)


def _held_open(released: threading.Event, closed: threading.Event) -> Any:
    """A stream of two stages that ends with ``end`` (PASSED) and then stays open until
    ``released``; ``closed`` is set once it has been let go."""

    def writer(out: Stream) -> None:
        out.send(": keepalive\n\n")
        _log(out, 1, "build", "--- stage build ---\ncompiled\n")
        _log(out, 2, "test", "--- stage test ---\nran 12 tests")  # no newline at the end
        out.event("end", {"status": "PASSED"})
        released.wait(30)
        closed.set()

    return writer


# -- --wait: the end event ----------------------------------------------------------------------


@pytest.mark.parametrize(("final", "code"), [("PASSED", 0), ("FAILED", 1), ("KILLED", 1)])
def test_wait_returns_at_the_end_event_while_the_stream_is_still_open(
    server: FakeServer, run: Any, final: str, code: int
) -> None:
    released, closed = threading.Event(), threading.Event()
    _queue(server)
    server.stream(LOGS, [_held_open(released, closed)])
    reason = None if final == "PASSED" else "stage 'test' failed: exit 2"
    server.json("GET", BUILD, make_build(11, final, failure_reason=reason))
    try:
        result = run("build", "acme/demo", "--branch", "wip", "--wait")
        stream_was_open = not closed.is_set()
    finally:
        released.set()
    assert stream_was_open  # it returned at `end`, not when the server closed the stream
    assert result.exit_code == code, result.output
    assert "queued build #11 of acme/demo (wip)" in result.stdout
    assert final in result.stdout and "ran 12 tests" in result.stdout  # the stage table
    assert "compiled" not in result.stdout  # not a terminal: the log is not printed
    assert "build #11: stage build" in result.stderr
    assert "build #11: stage test" in result.stderr
    if reason:
        assert f"build #11 {final}: {reason}" in result.stderr
    (followed,) = server.requests_to("GET", LOGS)
    assert followed.query == {"follow": "1"}
    assert followed.headers.get("Accept") == "text/event-stream"
    assert len(server.requests_to("GET", BUILD)) == 1  # the final build, fetched once


@pytest.mark.parametrize("command", ["rebuild", "approve"])
def test_rebuild_and_approve_wait_the_same_way(server: FakeServer, run: Any, command: str) -> None:
    released, closed = threading.Event(), threading.Event()
    if command == "rebuild":
        server.json("POST", "/api/v1/builds/3/rebuild", make_build(11, "QUEUED"), 201)
        args = ["rebuild", "--build-id", "3", "--wait"]
    else:
        approved = make_build(11, "QUEUED", approved_by="alice")
        server.json("POST", "/api/v1/builds/11/approve", approved, 201)
        args = ["approve", "11", "--follow"]
    server.stream(LOGS, [_held_open(released, closed)])
    server.json("GET", BUILD, make_build(11, "FAILED"))
    try:
        result = run(*args)
    finally:
        released.set()
    assert result.exit_code == 1, result.output
    assert len(server.requests_to("GET", BUILD)) == 1
    assert ("compiled" in result.stdout) == (command == "approve")


def test_an_end_that_overtakes_the_final_status_is_polled_for(
    server: FakeServer, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ocelot.cli.waiting.POLL_INTERVALS", (0.01,))
    released, closed = threading.Event(), threading.Event()
    _queue(server)
    server.stream(LOGS, [_held_open(released, closed)])
    server.sequence("GET", BUILD, [(200, make_build(11, "RUNNING")), (200, make_build(11))])
    try:
        result = run("build", "acme/demo", "--branch", "wip", "--wait")
    finally:
        released.set()
    assert result.exit_code == 0, result.output
    assert len(server.requests_to("GET", BUILD)) == 2


# -- falling back to polling ----------------------------------------------------------------------


def _dropped(out: Stream) -> None:
    pass  # headers sent, then the connection closes: no event at all


@pytest.mark.parametrize("how", ["server error", "dropped", "not found"])
@pytest.mark.parametrize("follow", [False, True], ids=["wait", "follow"])
def test_no_stream_falls_back_to_polling(
    server: FakeServer, run: Any, monkeypatch: pytest.MonkeyPatch, how: str, follow: bool
) -> None:
    monkeypatch.setattr("ocelot.cli.waiting.POLL_INTERVALS", (0.01,))
    monkeypatch.setattr("ocelot.cli.waiting.RECONNECT_DELAY", 0)
    _queue(server)
    if how == "server error":
        server.json("GET", LOGS, {"error": {"message": "bad gateway"}}, 502)
    elif how == "dropped":
        server.stream(LOGS, [_dropped])
    server.sequence(
        "GET",
        BUILD,
        [(200, make_build(11, "RUNNING")), (200, make_build(11, "FAILED", failure_reason="x"))],
    )
    result = run("build", "acme/demo", "--branch", "wip", "--follow" if follow else "--wait")
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.stdout
    assert "build #11: RUNNING" in result.stderr  # the poller's progress
    assert "build #11 FAILED: x" in result.stderr
    assert "Error:" not in result.stderr and "Traceback" not in result.stderr
    assert len(server.requests_to("GET", BUILD)) == 2
    # One try: a stream that breaks before its first event is not reopened.
    assert len(server.requests_to("GET", LOGS)) == 1
    assert "reconnecting" not in result.stderr
    assert ("the live log is not available" in result.stderr) == follow


# -- --follow: the log with a line per stage ----------------------------------------------------


def test_follow_prints_each_stage_under_a_header_then_the_summary(
    server: FakeServer, run: Any
) -> None:
    released, closed = threading.Event(), threading.Event()
    _queue(server)
    server.stream(LOGS, [_held_open(released, closed)])
    server.json("GET", BUILD, make_build(11))
    try:
        result = run("build", "acme/demo", "--branch", "wip", "--follow")
    finally:
        released.set()
    assert result.exit_code == 0, result.output
    log = result.stdout.split("\n")
    start = log.index("==> stage build")
    assert log[start : start + 6] == [
        "==> stage build",
        "--- stage build ---",
        "compiled",
        "==> stage test",
        "--- stage test ---",
        "ran 12 tests",  # its missing newline added before the summary
    ]
    assert "PASSED" in "\n".join(log[start + 6 :])
    assert "build #11: stage" not in result.stderr  # the headers say it already


def test_follow_reconnects_without_repeating(
    server: FakeServer, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ocelot.cli.waiting.RECONNECT_DELAY", 0)

    def broken(out: Stream) -> None:
        _log(out, 1, "build", "one\n")

    def replay(out: Stream) -> None:
        _log(out, 1, "build", "one\n")
        _log(out, 2, "build", "two\n")
        out.event("end", {"status": "PASSED"})

    _queue(server)
    server.stream(LOGS, [broken, replay])
    server.json("GET", BUILD, make_build(11))
    result = run("build", "acme/demo", "--branch", "wip", "--follow")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("one\n") == 1 and result.stdout.count("==> stage build") == 1
    assert result.stdout.index("one\n") < result.stdout.index("two\n")
    assert "reconnecting" in result.stderr


def test_a_finished_build_is_not_waited_for(server: FakeServer, run: Any) -> None:
    server.json("POST", BUILDS, make_build(11, "SKIPPED", failure_reason="branch refused"), 201)
    result: Result = run("build", "acme/demo", "--branch", "wip", "--follow")
    assert result.exit_code == 1
    assert "build #11 SKIPPED: branch refused" in result.stderr
    assert server.requests_to("GET", LOGS) == []


def test_log_printer_headers_and_open_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = App({"NO_COLOR": "1", "XDG_CONFIG_HOME": str(tmp_path)})
    printer = LogPrinter(app, headers=True)
    for stage, text in [
        (None, "cloning\n"),
        ("a", "progress 10%"),
        ("a", " 20%"),
        ("b", "x\n"),
        (None, "y\n"),  # Ocelot's own line between stages: no header
        ("b", "z"),
    ]:
        printer({"stage": stage, "text": text})
    printer.end_line()
    printer.end_line()  # at a line start already: nothing more
    assert capsys.readouterr().out == (
        "cloning\n==> stage a\nprogress 10% 20%\n==> stage b\nx\ny\nz\n"
    )
    plain = LogPrinter()
    plain({"stage": "a", "text": "only text"})
    assert capsys.readouterr().out == "only text"
    assert stage_header("[b]x[/b]").plain == "==> stage [b]x[/b]"  # no markup


# -- a terminal, and Ctrl-C (the CLI as a real process) -----------------------------------------


@pytest.mark.parametrize("no_follow", [False, True], ids=["wait", "no-follow"])
def test_on_a_terminal_wait_follows_unless_told_not_to(
    server: FakeServer, tmp_path: Path, no_follow: bool
) -> None:
    released, closed = threading.Event(), threading.Event()
    _queue(server)
    server.stream(LOGS, [_held_open(released, closed)])
    server.json("GET", BUILD, make_build(11))
    args = ["build", "acme/demo", "--branch", "wip", "--wait"]
    if no_follow:
        args.append("--no-follow")
    cli = CliProcess(args, _cli_env(server, tmp_path), tmp_path, tty=True)
    try:
        code, out, err = cli.finish(60)
    finally:
        released.set()
    assert code == 0, (out, err)
    assert "PASSED" in out
    if no_follow:
        assert "compiled" not in out and "build #11: stage test" in err
    else:
        assert out.index("==> stage build") < out.index("compiled") < out.index("==> stage test")


@pytest.mark.parametrize("follow", [True, False], ids=["follow", "wait"])
def test_ctrl_c_stops_following_not_the_build(
    server: FakeServer, tmp_path: Path, follow: bool
) -> None:
    released = threading.Event()

    def endless(out: Stream) -> None:
        _log(out, 1, "build", "started\n")
        released.wait(60)  # the build runs on; the stream stays open

    _queue(server)
    server.stream(LOGS, [endless])
    server.json("GET", BUILD, make_build(11, "RUNNING"))
    args = ["build", "acme/demo", "--branch", "wip", "--follow" if follow else "--wait"]
    cli = CliProcess(args, _cli_env(server, tmp_path), tmp_path)
    try:
        if follow:
            cli.wait_for("started")
        else:
            eventually(
                lambda: server.requests_to("GET", LOGS) and "stage build" in cli.stderr,
                60,
                lambda: f"the CLI to follow the stream: {cli.stderr!r}",
            )
        cli.interrupt()
        code, out, err = cli.finish(60)
    finally:
        released.set()
        cli.stop()
    assert code == 130, (out, err)
    what = "following" if follow else "waiting"
    assert f"stopped {what}; build #11 keeps running — `ocelot status --build-id 11`" in err
    assert "Traceback" not in err and "Aborted" not in err
    assert [s.method for s in server.seen] == ["POST", "GET"]  # no kill, nothing after ^C
