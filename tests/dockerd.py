"""A second Docker daemon on this machine, standing in for another host's Docker.

It gets its own socket, data root, exec root and pid file, and its own bridge: a Linux bridge
made here with an address of its own (``--bridge none`` removed the host's ``docker0`` when
tried, breaking the first daemon), with ``--iptables=false --ip-masq=false`` so it leaves the
first daemon's firewall rules alone. The test image is copied in with ``docker save | load``
(no registry is reachable). ``stop`` kills what it started, unmounts and removes its
directory and the bridge, by pid, and fails loudly if the daemon does not go.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.waiting import eventually

IMAGE = "ocelot/busybox"


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


class SecondDockerd:
    """``dockerd`` on ``unix://<root>/docker.sock``, its containers on bridge ``bridge``."""

    def __init__(self, bridge: str = "ocbr2", subnet: str = "10.99.0.1/24") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ocelot-dockerd-"))
        self.bridge = bridge
        self.subnet_prefix = subnet.rsplit(".", 1)[0] + "."  # e.g. "10.99.0."
        self.socket = self.root / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.log = self.root / "dockerd.log"
        _run("ip", "link", "del", bridge, check=False)  # a leftover of an interrupted run
        _run("ip", "link", "add", bridge, "type", "bridge")
        _run("ip", "addr", "add", subnet, "dev", bridge)
        _run("ip", "link", "set", bridge, "up")
        with self.log.open("wb") as out:
            argv = ["dockerd", "--bridge", bridge, "--iptables=false", "--ip-masq=false",
                    "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                    "--pidfile", str(self.root / "docker.pid"), "-H", self.url]  # fmt: skip
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            eventually(self._up, 60, f"the second dockerd to answer (log: {self.log})")
            saved = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
            _run_with_input = subprocess.run(
                ["docker", "-H", self.url, "load"], stdin=saved.stdout, capture_output=True
            )
            saved.wait(60)
            if _run_with_input.returncode != 0:
                raise RuntimeError(f"loading {IMAGE}: {_run_with_input.stderr!r}")
        except BaseException:
            self.stop()
            raise

    def _up(self) -> bool:
        return _run("docker", "-H", self.url, "version", check=False).returncode == 0

    def docker(self, *args: str) -> str:
        """``docker -H <this daemon> ARGS`` and its stdout."""
        return _run("docker", "-H", self.url, *args).stdout

    def containers(self, label: str) -> list[tuple[str, str]]:
        """(name, state) of every container with ``label`` (running or not), one call."""
        out = self.docker(
            "ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}} {{.State}}"
        )
        return [tuple(line.split(" ", 1)) for line in out.splitlines() if line]  # type: ignore[misc]

    def stop(self) -> None:
        if self.proc.poll() is None:
            for name in self.docker("ps", "-aq").split() if self._up() else []:
                _run("docker", "-H", self.url, "rm", "-f", "-v", name, check=False)
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        time.sleep(0.2)
        _run("umount", "-R", str(self.root / "data"), check=False)  # overlay mounts, if any
        _run("umount", "-R", str(self.root / "exec"), check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        _run("ip", "link", "del", self.bridge, check=False)
