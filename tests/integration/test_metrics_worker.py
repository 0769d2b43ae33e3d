"""A real worker's metrics endpoint (``OCELOT_METRICS_PORT``) after a real Docker build: the
build and stage duration histograms, the queue wait and the log bytes are there, recorded by
the prefork pool's processes and added up by the main process (multiprocess mode, a
temporary directory made by ``python -m worker`` and removed when it stops); the optional
bearer token is required.

Its own server side (own Redis, own database) so that no other worker takes the build; the
worker and Redis are stopped by pid, and the endpoint listens on a free loopback port.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import require
from tests.servers import Process, free_port
from tests.stack import Stack, docker_ok, make_repo, own_stack
from tests.waiting import eventually

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TOKEN = "scrape-token-0123456789"
YML = """\
image: ocelot/busybox
buildTool: shell
branches: [master]
stages:
  - name: greet
    script: ["echo hello from $OCELOT_STAGE"]
  - name: count
    script: ["seq 1 200"]
"""

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


@pytest.fixture
def metrics_stack(tmp_path: Path) -> Iterator[Stack]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    ok, reason = docker_ok()
    require(ok, reason)
    with own_stack(tmp_path) as stack:
        yield stack


def parse(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def test_a_worker_serves_what_its_pool_processes_recorded(
    metrics_stack: Stack, tmp_path: Path
) -> None:
    stack = metrics_stack
    port = free_port()
    temp = tmp_path / "tmp"  # where the worker makes its multiprocess directory
    temp.mkdir()
    worker: Process = stack.start_worker(
        "metrics-1",
        extra={
            "OCELOT_METRICS_PORT": str(port),
            "OCELOT_METRICS_ADDR": "127.0.0.1",
            "OCELOT_METRICS_TOKEN": TOKEN,
            "OCELOT_MAX_BUILDS": "2",  # a prefork pool of two processes
            "TMPDIR": str(temp),
        },
    )
    url = f"http://127.0.0.1:{port}/metrics"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def answers() -> requests.Response | None:
        try:
            return requests.get(url, headers=auth, timeout=5)
        except requests.ConnectionError:
            return None

    first = eventually(answers, 30, f"the worker's metrics on {url}")
    assert first.status_code == 200
    assert first.headers["Content-Type"].startswith("text/plain; version=")
    assert requests.get(url, timeout=5).status_code == 401
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401
    [multiproc] = list(temp.glob("ocelot-worker-metrics-*"))

    make_repo(tmp_path / "repo", {"ocelot.yml": YML})
    repo = stack.add_repo(tmp_path / "repo")
    build = stack.wait(stack.build(repo, branch="master"))
    assert build["status"] == "PASSED", (build, stack.logs(build["id"]))
    assert build["worker"] == "metrics-1"

    def scraped() -> Samples | None:
        samples = parse(requests.get(url, headers=auth, timeout=5).text)
        done = value(samples, "ocelot_build_duration_seconds_count", status="PASSED")
        return samples if done >= 1 else None  # observed when finish's commit is done

    samples = eventually(scraped, 30, "the build's duration in the worker's metrics")
    assert value(samples, "ocelot_build_duration_seconds_count", status="PASSED") == 1
    assert value(samples, "ocelot_stage_duration_seconds_count", status="PASSED") == 2
    assert value(samples, "ocelot_build_queue_wait_seconds_count") == 1
    assert value(samples, "ocelot_stage_duration_seconds_sum", status="PASSED") >= 0
    assert value(samples, "ocelot_log_stored_bytes_total") >= len(stack.logs(build["id"])) > 0

    # The samples came from the pool's processes, not the main one that serves them.
    main_pid = worker.proc.pid
    stage_counts = {}
    for path in multiproc.glob("histogram_*.db"):
        pid = int(path.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(path)]):
            if metric.name == "ocelot_stage_duration_seconds":
                count = sum(s.value for s in metric.samples if s.name.endswith("_count"))
                stage_counts[pid] = stage_counts.get(pid, 0) + count
    assert sum(stage_counts.values()) == 2, stage_counts
    assert stage_counts.get(main_pid, 0) == 0, stage_counts
    assert any(n > 0 for pid, n in stage_counts.items() if pid != main_pid), stage_counts

    stack.stop_worker(worker)  # a clean stop removes the directory it made
    assert not multiproc.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, headers=auth, timeout=5)
