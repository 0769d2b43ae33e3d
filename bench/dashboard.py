"""Dashboard server time: the home page with 1,000 repositories and the build page of a
200,000-line log, as p95 over repeated requests through the WSGI app (no network), with the
health endpoint measured the same way as the floor. Also the SQL statements each page runs,
which must not grow with the number of rows.

``python -m bench.dashboard`` prints the rows; ``make bench`` puts them in bench/RESULTS.md.
"""

from __future__ import annotations

import gc
import os
import re
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from ocelot.db import dispose_engines, make_engine, migrate, session_scope
from ocelot.models import Build, LogChunk, Repo, Stage, utcnow
from ocelot.services.tokens import create_token
from ocelot.settings import load_settings
from ocelot.status import BuildStatus, StageStatus
from tests.sqlcount import counted
from web import create_app

REPOS = int(os.environ.get("OCELOT_BENCH_DASH_REPOS", "1000"))
BUILDS_PER_REPO = 20
LOG_LINES = int(os.environ.get("OCELOT_BENCH_DASH_LINES", "200000"))
CHUNK_BYTES = 64 * 1024  # what the log writer stores per chunk at full speed
REQUESTS = int(os.environ.get("OCELOT_BENCH_DASH_REQUESTS", "40"))
STATUSES = (BuildStatus.PASSED, BuildStatus.FAILED, BuildStatus.PASSED, BuildStatus.KILLED)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def seed(engine: Engine) -> int:
    """1,000 repositories in 10 groups with 20 finished builds each; one build with a
    200,000-line log in two stages. Returns that build's id."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(Repo),
            [
                {
                    "acct": f"team{n % 10}",
                    "name": f"svc{n}",
                    "full_name": f"team{n % 10}/svc{n}",
                    "url": f"/srv/git/svc{n}",
                    "group": f"group-{n % 10}",
                    "created_at": now,
                }
                for n in range(REPOS)
            ],
        )
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM repos ORDER BY id")]
        rows = []
        for repo_id in ids:
            for k in range(BUILDS_PER_REPO):
                queued = now - timedelta(minutes=BUILDS_PER_REPO - k)
                rows.append(
                    {
                        "repo_id": repo_id,
                        "hash": f"{repo_id:08x}{k:032x}",
                        "branch": "master",
                        "status": STATUSES[(repo_id + k) % len(STATUSES)],
                        "trigger": "push",
                        "queued_at": queued,
                        "started_at": queued + timedelta(seconds=2),
                        "finished_at": queued + timedelta(seconds=40),
                        "attempt": 1,
                        "history": [],
                    }
                )
        conn.execute(insert(Build), rows)
        build_id = int(conn.exec_driver_sql("SELECT max(id) FROM builds").scalar_one())
        for pos, name in enumerate(("setup", "test")):
            conn.execute(
                insert(Stage),
                {
                    "build_id": build_id,
                    "name": name,
                    "position": pos,
                    "attempt": 1,
                    "status": StageStatus.PASSED,
                    "exit_code": 0,
                    "started_at": now,
                    "finished_at": now,
                },
            )
    with session_scope(engine) as session:
        seq, buf = 0, []
        for n in range(1, LOG_LINES + 1):
            stage = "setup" if n <= 100 else "test"
            buf.append(f"\x1b[32mPASSED\x1b[0m tests/test_mod{n % 97}.py::test_case_{n} [{n}]\n")
            if sum(map(len, buf)) >= CHUNK_BYTES or n == LOG_LINES or n == 100:
                seq += 1
                session.add(
                    LogChunk(build_id=build_id, seq=seq, attempt=1, stage=stage, text="".join(buf))
                )
                buf = []
    return build_id


def server_times(get: Callable[[], Any], runs: int) -> list[float]:
    get()  # warm: templates compiled, connections open
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        resp = get()
        samples.append(time.perf_counter() - start)
        assert resp.status_code == 200, resp.status_code
    return samples


def measure() -> list[tuple[str, str, str, str]]:
    """Rows of (measurement, Ocelot, floor, ratio) for bench/RESULTS.md."""
    with tempfile.TemporaryDirectory(prefix="ocelot-bench-dash-") as root:
        settings = load_settings(
            {
                "OCELOT_HOME": str(Path(root) / "home"),
                "OCELOT_DATABASE_URL": f"sqlite:///{root}/bench.db",
                "OCELOT_BROKER_URL": "redis://127.0.0.1:1/0",  # the pages measured need none
            }
        )
        migrate(settings)
        engine = make_engine(settings)
        build_id = seed(engine)
        with session_scope(engine) as session:
            token = create_token(session, "bench", role="read")
        app = create_app(settings)
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        resp = client.post("/login", data={"token": token, "csrf_token": csrf.group(1)})
        assert resp.status_code == 302, resp.status_code

        client.get("/")
        gc.collect()
        gc.freeze()  # as web/wsgi.py does after start-up
        floor = p95(server_times(lambda: client.get("/healthz"), REQUESTS))
        rows = []
        for label, path, target in (
            (f"home page, {REPOS} repositories ({REPOS * BUILDS_PER_REPO} builds)", "/", 0.100),
            (f"build page, {LOG_LINES:,}-line log", f"/builds/{build_id}", 0.150),
        ):
            with counted(engine) as statements:
                client.get(path)
            took = p95(server_times(lambda path=path: client.get(path), REQUESTS))
            rows.append(
                (
                    f"{label}: p95 server time, {len(statements)} SQL statements "
                    f"(target < {target * 1000:.0f} ms)",
                    f"{took * 1000:.1f} ms",
                    f"`GET /healthz` {floor * 1000:.2f} ms",
                    f"{took / floor:.0f}x",
                )
            )
        dispose_engines()
    return rows


if __name__ == "__main__":
    for row in measure():
        print(" | ".join(row))
