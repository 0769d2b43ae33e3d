"""A Redis that fails over, for the test tiers: a primary, a replica and Sentinels
(Debian's ``redis-sentinel``), each on a free loopback port in its own directory, stopped by
pid afterwards.

The Sentinels are quick to judge (``down-after-milliseconds`` 1000): SIGKILL the primary
(:meth:`SentinelCluster.kill_primary`) and the replica is promoted within seconds
(:meth:`SentinelCluster.wait_for_failover`).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import redis

from tests.servers import RedisServer, free_port, stop, wait_for_port
from tests.waiting import eventually

MASTER = "ocelot-test"


class SentinelServer:
    """One ``redis-sentinel`` watching ``master`` at ``primary_port`` (quorum ``quorum``)."""

    def __init__(self, workdir: Path, master: str, primary_port: int, quorum: int) -> None:
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        # Sentinel rewrites its config file (what it learnt): it must be its own and writable.
        self.config = workdir / "sentinel.conf"
        self.config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {workdir}\n"
            f"sentinel monitor {master} 127.0.0.1 {primary_port} {quorum}\n"
            f"sentinel down-after-milliseconds {master} 1000\n"
            f"sentinel failover-timeout {master} 5000\n"
            f"sentinel parallel-syncs {master} 1\n"
        )
        self.proc = subprocess.Popen(
            ["redis-sentinel", str(self.config)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port)
        self.client = redis.Redis(port=self.port, socket_timeout=3, decode_responses=True)

    def master(self, name: str) -> dict[str, str]:
        """What this Sentinel knows of ``name`` (``SENTINEL MASTER``)."""
        # raw: redis-py 6.4's reply parser for SENTINEL MASTER fails (return_responses)
        flat = self.client.execute_command("SENTINEL", "MASTER", name)
        return dict(zip(flat[::2], flat[1::2], strict=True))

    def stop(self) -> None:
        self.client.close()
        stop(self.proc)


class SentinelCluster:
    """A primary, one replica (``--replicaof``) and ``sentinels`` Sentinels with a majority
    quorum; :attr:`broker_url` is the ``sentinel://`` URL naming all of them."""

    def __init__(self, workdir: Path, sentinels: int = 3, master: str = MASTER) -> None:
        self.master = master
        self.primary = RedisServer(_mkdir(workdir / "primary"))
        self.replica = RedisServer(
            _mkdir(workdir / "replica"), extra=["--replicaof", "127.0.0.1", str(self.primary.port)]
        )
        self.sentinels: list[SentinelServer] = []
        try:
            quorum = sentinels // 2 + 1
            for n in range(sentinels):
                self.sentinels.append(
                    SentinelServer(workdir / f"sentinel-{n}", master, self.primary.port, quorum)
                )
            eventually(self._ready, 60, self._state, interval=0.2)
        except BaseException:
            self.stop()
            raise
        self.broker_url = ";".join(f"sentinel://127.0.0.1:{s.port}/0" for s in self.sentinels)

    def _ready(self) -> bool:
        """Each Sentinel sees the replica and every other Sentinel, and the replica is in
        sync: only then can they agree on a failover."""
        if _replication(self.replica.port).get("master_link_status") != "up":
            return False
        for sentinel in self.sentinels:
            state = sentinel.master(self.master)
            if int(state.get("num-slaves", 0)) < 1:
                return False
            if int(state.get("num-other-sentinels", 0)) < len(self.sentinels) - 1:
                return False
        return True

    def _state(self) -> str:
        return "the Sentinels to see the replica and each other: " + "; ".join(
            str(s.master(self.master)) for s in self.sentinels
        )

    def primary_port(self) -> int:
        """The port of the primary the first Sentinel names now."""
        return int(self.sentinels[0].master(self.master)["port"])

    def subscribers(self, channel: str) -> int:
        """Clients subscribed to ``channel`` on the current primary (0 while there is none)."""
        try:
            with redis.Redis(port=self.primary_port(), socket_timeout=3) as client:
                [(_, count)] = client.pubsub_numsub(channel)
                return int(count)
        except redis.ConnectionError:
            return 0

    def replica_has(self, key: str) -> bool:
        with redis.Redis(port=self.replica.port, socket_timeout=3) as client:
            return bool(client.exists(key))

    def kill_primary(self) -> None:
        """SIGKILL the primary (its whole process group), as when its host dies."""
        os.killpg(self.primary.proc.pid, signal.SIGKILL)
        self.primary.proc.wait(10)

    def wait_for_failover(self, timeout: float = 60) -> None:
        """Until every Sentinel names the replica as the primary and it answers as one."""

        def promoted() -> bool:
            if any(int(s.master(self.master)["port"]) != self.replica.port for s in self.sentinels):
                return False
            return _replication(self.replica.port).get("role") == "master"

        eventually(promoted, timeout, self._state, interval=0.2)

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.replica.stop()
        self.primary.stop()


def _replication(port: int) -> dict[str, object]:
    with redis.Redis(port=port, socket_timeout=3, decode_responses=True) as client:
        return client.info("replication")  # type: ignore[no-any-return]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
