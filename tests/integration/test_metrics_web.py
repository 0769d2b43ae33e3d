"""The web app's ``/metrics`` under gunicorn as the Procfile runs it (two worker processes,
``--config python:ocelot.gunicorn_conf``): every scrape shows every delivery, whichever
process took the delivery and whichever answers the scrape, because the processes share a
multiprocess directory that the master made and removes when it stops.

Its own Redis and database; gunicorn listens on a free loopback port and is stopped by pid.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ocelot.db import session_scope
from ocelot.services.hooks import set_webhook_secret
from tests.conftest import require
from tests.fakes.webhooks import body, signed_headers
from tests.servers import RedisServer, free_port, stop
from tests.stack import Stack
from tests.waiting import eventually

pytestmark = [pytest.mark.slow]

SECRET = "webhook-secret-0123456789abcdef"
DELIVERIES = 6


@pytest.fixture
def web_stack(tmp_path: Path) -> Iterator[Stack]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    redis = RedisServer(tmp_path)
    stack = Stack(tmp_path / "stack", redis, db=0)
    try:
        yield stack
    finally:
        stack.close()
        redis.stop()


def procfile_web_args() -> list[str]:
    """The Procfile's ``web`` command line, less its bind and worker count."""
    procfile = Path(__file__).resolve().parents[2] / "Procfile"
    [line] = [x for x in procfile.read_text().splitlines() if x.startswith("web:")]
    words = line.split()[1:]
    assert words[0] == "gunicorn" and "python:ocelot.gunicorn_conf" in words, line
    kept, skip = [], False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in ("--bind", "--workers"):
            skip = True
        else:
            kept.append(word)
    return kept


def deliveries_total(text: str) -> dict[str, float]:
    """``ocelot_webhook_deliveries_total`` of GitHub, by verdict."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ocelot_webhook_deliveries_total":
                assert sample.labels["forge"] == "github"
                found[sample.labels["verdict"]] = sample.value
    return found


def test_every_gunicorn_process_counts_into_one_scrape(web_stack: Stack, tmp_path: Path) -> None:
    stack = web_stack
    stack.add_repo(tmp_path / "nowhere", "binkkatal/sample_app")
    with session_scope(stack.engine) as session:
        set_webhook_secret(session, stack.settings, "binkkatal/sample_app", SECRET)
    port = free_port()
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, **stack.env, "TMPDIR": str(temp)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    bind = ["--bind", f"127.0.0.1:{port}", "--workers", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *bind, *procfile_web_args()],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "gunicorn.log").read_text()[-3000:])
            try:
                return requests.get(f"{url}/healthz", timeout=5).ok
            except requests.ConnectionError:
                return False

        eventually(up, 60, "gunicorn to answer /healthz")
        [multiproc] = list(temp.glob("ocelot-web-metrics-*"))
        data = body("github/push.json")
        for _ in range(DELIVERIES):  # new delivery ids, one body: accepted, then replays
            headers = {**signed_headers("github/push.json", SECRET), "Connection": "close"}
            headers["Content-Type"] = "application/json"
            resp = requests.post(f"{url}/hooks/github", data=data, headers=headers, timeout=10)
            assert resp.status_code in (200, 202), resp.text
        scrapes = []
        for _ in range(10):  # whichever process answers, it adds up all of them
            scraped = requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10)
            assert scraped.status_code == 200
            scrapes.append(deliveries_total(scraped.text))
        files = sorted(p.name for p in multiproc.glob("counter_*.db"))
        assert files and f"counter_{proc.pid}.db" not in files, files  # written by the workers
    finally:
        stop(proc, 20)
        log.close()
    recorded = verdicts(stack)
    assert sum(recorded.values()) == DELIVERIES and recorded["accepted"] == 1, recorded
    assert all(s == recorded for s in scrapes), (recorded, scrapes)
    assert not multiproc.exists()  # the master removed what it made


def verdicts(stack: Stack) -> dict[str, float]:
    """The deliveries the server recorded, by verdict: the truth the counter must match."""
    resp = stack.client.get("/api/v1/repos/binkkatal/sample_app/deliveries", headers=stack.auth)
    found: dict[str, float] = {}
    for delivery in resp.get_json()["deliveries"]:
        found[delivery["verdict"]] = found.get(delivery["verdict"], 0) + 1
    return found
