"""Two hosts on one machine: PostgreSQL, one Redis, web and beat; a worker per "host", each
with its own ``OCELOT_HOME`` and its own Docker daemon (the second one is a ``dockerd`` on its
own socket, data root and bridge: tests/dockerd.py). Nothing is shared between the two
workers but the database and the broker, as on two machines.

What it shows (issue 13): builds spread over both hosts and every stage runs beside its
build's container (a stage prints its container's address: each daemon has its own subnet);
a host that dies mid-build loses nothing, its containers stop on their own, and it cleans up
when it comes back; a PostgreSQL restart re-runs nothing; a second worker with a live
worker's name is refused.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ocelot import queues
from ocelot.db import session_scope
from ocelot.services.workers import list_workers
from ocelot.status import WorkerState
from tests.conftest import require
from tests.dockerd import SecondDockerd
from tests.servers import PostgresServer, Process, RedisServer
from tests.stack import Stack, docker_ok, make_repo
from tests.waiting import eventually
from worker.factory import make_celery

pytestmark = [pytest.mark.docker, pytest.mark.slow]

FAST = {
    "OCELOT_LEASE_SECONDS": "4",
    "OCELOT_RECONCILE_AFTER": "4",
    "OCELOT_WORKER_LOST_RETRIES": "2",
    "OCELOT_KILL_GRACE": "2",
    "OCELOT_WORKER_HEARTBEAT": "1",
}
MAIN_SUBNET = "172.17."  # the first daemon's default bridge
YML = """\
image: ocelot/busybox
buildTool: shell
branches: [ALL]
stages:
  - name: where
    script:
      - 'echo begin'
      - 'ip -4 addr show eth0 | sed -n "s/.*inet \\([0-9.]*\\).*/addr=\\1/p"'
      - 'sleep {sleep}'
      - 'echo done'
"""


class Hosts:
    """The two "hosts": ``a`` uses the machine's Docker, ``b`` the second daemon."""

    def __init__(self, root: Path) -> None:
        # its own cluster: the restart test must not cut the connections of other tiers
        self.root = root
        self.workers: dict[str, Process] = {}
        self.postgres = PostgresServer()
        self.stack: Stack
        self.redis: RedisServer
        self.dockerd: SecondDockerd
        try:
            self.dockerd = SecondDockerd()
            self.redis = RedisServer(root)
            (root / "server").mkdir()
            self.stack = Stack(
                root / "server",
                self.redis,
                db=0,
                env={**FAST, "OCELOT_DATABASE_URL": self.postgres.create_database()},
            )
            self.stack.start_beat()
        except BaseException:
            self.close()  # a half-made set-up leaves no server behind
            raise

    def env(self, host: str) -> dict[str, str]:
        # with the warm pool (the default), which the dead-host test is hardest on
        env = {
            "OCELOT_HOME": str(self.root / f"home-{host}"),
            "OCELOT_MAX_BUILDS": "2",
            "OCELOT_WARM_CONTAINERS": "2",
        }
        if host == "b":
            env["DOCKER_HOST"] = self.dockerd.url
        return env

    def start(self, host: str) -> Process:
        self.workers[host] = self.stack.start_worker(f"host-{host}", extra=self.env(host))
        return self.workers[host]

    def subnet(self, worker: str) -> str:
        return self.dockerd.subnet_prefix if worker == "host-b" else MAIN_SUBNET

    def close(self) -> None:
        try:
            if hasattr(self, "stack"):
                self.stack.close()
        finally:
            for name in ("redis", "dockerd", "postgres"):
                if hasattr(self, name):
                    getattr(self, name).stop()


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    ok, reason = docker_ok()
    require(ok, reason)
    require(os.geteuid() == 0, "a second dockerd and a bridge need root")
    h = Hosts(tmp_path)
    try:
        h.start("a")
        h.start("b")
        yield h
    finally:
        h.close()


def address(log: str, build: dict[str, object] | None = None) -> str:
    for line in log.splitlines():
        if line.startswith("addr="):
            return line.removeprefix("addr=")
    # "begin" there: eth0 had no address; "begin" gone too: the stage's first output was lost
    raise AssertionError(f"no addr= line in the log of {build}:\n{log}")


def test_builds_spread_over_two_hosts_and_run_beside_their_container(
    hosts: Hosts, tmp_path: Path
) -> None:
    stack = hosts.stack
    make_repo(tmp_path / "repo", {"ocelot.yml": YML.format(sleep=1)})
    repo = stack.add_repo(tmp_path / "repo", "acme/spread")
    ids = [stack.build(repo, branch="master") for _ in range(30)]
    builds = [stack.wait(build_id, timeout=300) for build_id in ids]
    assert [b["status"] for b in builds] == ["PASSED"] * 30, builds
    assert all(b["attempt"] == 1 for b in builds), [(b["id"], b["attempt"]) for b in builds]
    per_host = Counter(b["worker"] for b in builds)
    assert set(per_host) == {"host-a", "host-b"}, per_host
    for build in builds:  # the stage ran in the container on its own worker's daemon
        assert address(stack.logs(build["id"]), build).startswith(hosts.subnet(build["worker"])), (
            build
        )

    with session_scope(stack.engine) as session:
        listed = {w.name: w for w in list_workers(session)}
    assert {name: w.state for name, w in listed.items()} == {
        "host-a": WorkerState.ALIVE,
        "host-b": WorkerState.ALIVE,
    }
    answer = requests.get(f"{stack.url}/api/v1/workers", headers=stack.auth, timeout=30).json()
    assert sorted(w["name"] for w in answer["workers"]) == ["host-a", "host-b"]
    scraped = requests.get(f"{stack.url}/metrics", timeout=30).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
    }
    assert samples[("ocelot_builds", (("status", "PASSED"), ("trigger", "api")))] == 30
    assert samples[("ocelot_workers", (("state", "alive"),))] == 2

    # beat's janitor, taken by one host, reaches both: each cleans its own Docker
    make_celery(stack.settings).send_task(queues.MAINTENANCE_JANITOR, queue=queues.MAINTENANCE)
    for host, worker in hosts.workers.items():
        eventually(
            lambda worker=worker: (
                "ocelot.maintenance.janitor_here" in worker.log.read_text()
                and "succeeded"
                in worker.log.read_text().split("ocelot.maintenance.janitor_here")[-1]
            ),
            60,
            f"host-{host} to run its janitor",
        )


def test_a_second_worker_with_a_live_name_is_refused(hosts: Hosts) -> None:
    stack = hosts.stack
    duplicate = Process(
        ["-m", "worker"],
        {**stack.env, **hosts.env("b"), "OCELOT_WORKER_NAME": "host-a"},
        hosts.root / "duplicate.log",
    )
    try:
        assert duplicate.proc.wait(60) == 3
        said = duplicate.log.read_text()
        assert "host-a" in said and "OCELOT_WORKER_NAME" in said, said
    finally:
        duplicate.stop()
    with session_scope(stack.engine) as session:
        (a,) = [w for w in list_workers(session) if w.name == "host-a"]
    assert a.state == WorkerState.ALIVE and a.pid == hosts.workers["a"].proc.pid


def test_a_dead_host_loses_nothing_and_its_containers_stop_on_their_own(
    hosts: Hosts, tmp_path: Path
) -> None:
    stack = hosts.stack
    make_repo(tmp_path / "repo", {"ocelot.yml": YML.format(sleep=8)})
    repo = stack.add_repo(tmp_path / "repo", "acme/dies")
    ids = [stack.build(repo, branch="master") for _ in range(6)]

    def b_runs_one() -> bool:
        return any(stack.get(i)["worker"] == "host-b" and stack.get(i)["status"] == "RUNNING"
                   for i in ids)  # fmt: skip

    label = f"ocelot.instance={stack.settings.instance}"

    # Killed as soon as it runs a build, whatever else it is doing then (preparing the next
    # one, filling its warm pool): every container is held before it starts, so there is no
    # moment when a container runs without its worker's hold.
    eventually(b_runs_one, 120, "host-b to run a build")
    b = hosts.workers.pop("b")
    os.killpg(b.proc.pid, signal.SIGKILL)  # the host is gone: worker and pool, no clean-up
    b.proc.wait(10)

    # Nothing of Ocelot runs for host-b any more, yet its build containers stop by themselves.
    def still_running() -> str:
        names = [name for name, state in hosts.dockerd.containers(label) if state == "running"]
        shown = hosts.dockerd.docker(
            "inspect", "--format",
            "{{.Name}} {{.Config.OpenStdin}} {{.Config.StdinOnce}} {{.Path}} {{.Args}}", *names,
        ) if names else ""  # fmt: skip
        return f"host-b's build containers to stop on their own; still running:\n{shown}"

    eventually(
        lambda: all(state != "running" for _, state in hosts.dockerd.containers(label)),
        30,
        still_running,
    )
    builds = [stack.wait(i, timeout=300) for i in ids]
    assert [b["status"] for b in builds] == ["PASSED"] * 6, builds
    rerun = [b for b in builds if b["attempt"] > 1]
    assert rerun and all(b["worker"] == "host-a" for b in rerun), builds
    for build in rerun:  # attempt 1 on host-b never printed after attempt 2 began
        log = stack.logs(build["id"])
        after = log[log.index("--- attempt 2 (attempt 1 on host-b") :]
        assert "addr=" + hosts.dockerd.subnet_prefix not in after, log

    # host-b comes back once the registry calls it lost, and removes what it left.
    def lost() -> bool:
        with session_scope(stack.engine) as session:
            return any(w.name == "host-b" and w.state == WorkerState.LOST
                       for w in list_workers(session))  # fmt: skip

    eventually(lost, 30, "the registry to call host-b lost")
    hosts.start("b")
    eventually(
        lambda: hosts.dockerd.containers(label) == [],
        60,
        "host-b to remove its dead attempts' containers when it comes back",
    )


def test_a_postgresql_restart_re_runs_nothing(hosts: Hosts, tmp_path: Path) -> None:
    stack = hosts.stack
    make_repo(tmp_path / "repo", {"ocelot.yml": YML.format(sleep=6)})
    repo = stack.add_repo(tmp_path / "repo", "acme/dbblip")
    ids = [stack.build(repo, branch="master") for _ in range(4)]
    eventually(
        lambda: sum(stack.get(i)["status"] == "RUNNING" for i in ids) >= 2,
        120,
        "two builds to run",
    )
    hosts.postgres.down_for(4)
    builds = [stack.wait(i, timeout=300) for i in ids]
    assert [(b["status"], b["attempt"]) for b in builds] == [("PASSED", 1)] * 4, [
        (b["id"], b["worker"], b["status"], b["failure_reason"], b["attempts"]) for b in builds
    ]
