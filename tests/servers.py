"""Real servers for the test tiers, each on a free loopback port, stopped by pid afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.waiting import eventually

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    eventually(lambda: _listening(port), timeout, f"a server on 127.0.0.1:{port}", interval=0.05)


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL; never leave it behind."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class RedisServer:
    def __init__(self, workdir: Path, port: int | None = None, extra: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                *extra,  # e.g. --replicaof (tests/sentinel.py)
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop(self.proc)


class PostgresServer:
    """A throwaway cluster (initdb), run as the ``postgres`` user when we are root."""

    def __init__(self) -> None:
        # Its own directory under /tmp: pytest's tmp dirs are private to root (mode 700).
        workdir = Path(tempfile.mkdtemp(prefix="ocelot-pg-"))
        workdir.chmod(0o755)
        self.workdir = workdir
        self.port = free_port()
        self.datadir = workdir / "pgdata"
        self.sock = workdir / "pgsock"
        self.sock.mkdir(parents=True, exist_ok=True)
        as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(workdir, "postgres")
            shutil.chown(self.sock, "postgres")
            as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [
                *as_user,
                str(PG_BIN / "initdb"),
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self._argv = [
            *as_user,
            str(PG_BIN / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-k",
            str(self.sock),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        self.proc = self._spawn()
        self.base_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"
        self._n = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            self._argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, 30)
        return proc

    def down_for(self, seconds: float) -> None:
        """An outage: fast shutdown (every connection is cut, like ``pg_ctl restart -m
        fast``), ``seconds`` with nothing listening, then the same cluster on the same port."""
        os.killpg(self.proc.pid, signal.SIGINT)  # SIGINT to the postmaster: fast shutdown
        self.proc.wait(30)
        time.sleep(seconds)
        self.proc = self._spawn()

    def create_database(self) -> str:
        import psycopg

        self._n += 1
        name = f"ocelot_test_{self._n}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"{self.base_url}/{name}"

    def stop(self) -> None:
        stop(self.proc, 20)
        shutil.rmtree(self.workdir, ignore_errors=True)


class Process:
    """A Python subprocess of ours (celery worker, web server) with its output in a file."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            env={**os.environ, **env},
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        def seen() -> bool:
            if text in self.log.read_text(errors="replace"):
                return True
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited before {text!r}:\n{self.log.read_text()[-3000:]}")
            return False

        def what() -> str:
            return f"{text!r} in {self.log}:\n{self.log.read_text()[-3000:]}"

        eventually(seen, timeout, what)

    def stop(self) -> None:
        stop(self.proc, 20)
        self._fh.close()
