"""The API at a million builds: 1,000,000 builds (and their 2,000,000 stages) across 1,000
repositories in a throwaway PostgreSQL, and the reads the CLI makes timed through the real
WSGI app (no network) with a read token: ``GET /api/v1/builds?repo=…``, what ``ocelot
summary`` asks for (with and without a repository, a branch, a pipeline), a build by hash
prefix (``ocelot status --hash``) and the repository list with each one's last build (``GET
/api/v1/repos``). ``GET /healthz`` measured the same way is the floor. Also the SQL
statements each request runs, at 5 and at 500 rows returned: they must be the same number.

``python -m bench.api_scale`` prints the rows and the PostgreSQL plans of each read;
:func:`measure` gives ``make bench`` its rows for bench/RESULTS.md. Needs PostgreSQL 15
(``tests/servers.py``): ``make deps WITH_POSTGRES=1``.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ocelot.db import dispose_engines, make_engine, migrate, session_scope
from ocelot.services.tokens import create_token
from ocelot.settings import load_settings
from tests.servers import PG_BIN, PostgresServer
from web import create_app

BUILDS = int(os.environ.get("OCELOT_BENCH_API_BUILDS", "1000000"))
REPOS = int(os.environ.get("OCELOT_BENCH_API_REPOS", "1000"))
REQUESTS = int(os.environ.get("OCELOT_BENCH_API_REQUESTS", "200"))
TARGET = 0.050  # p95, seconds

# One row per build: a skewed spread over the repositories (the busiest has ~3% of all
# builds, the quietest a few hundred), one build in ten a second pipeline of the commit
# before it, 60% on master, the rest on feature, release and pull-request branches, mostly
# finished, the newest few still running or queued, 30 s apart over a year.
SEED_BUILDS = """
INSERT INTO builds (repo_id, hash, branch, tag, pr_id, message, status, failure_reason,
    trigger, triggered_by, forced, queued_at, started_at, finished_at, worker, attempt,
    machine_tag, image, trusted, history, pipeline, event_id)
SELECT s.repo_id, s.hash,
    CASE WHEN s.r < 0.60 THEN 'master'
         WHEN s.r < 0.85 THEN 'feature/f' || (mod(s.i, 300))
         WHEN s.r < 0.95 THEN 'pr-' || (mod(s.i, 500))
         ELSE 'release/1.' || (mod(s.i, 7)) END,
    CASE WHEN mod(s.i, 100) = 0 THEN 'v1.' || s.i END,
    CASE WHEN s.r >= 0.85 AND s.r < 0.95 THEN (mod(s.i, 500))::text END,
    'change ' || s.i || ': a commit message of a realistic length for a summary',
    s.status,
    CASE WHEN s.status = 'FAILED' THEN 'stage test failed (exit 1)' END,
    CASE WHEN s.r < 0.85 THEN 'push' WHEN s.r < 0.95 THEN 'pull_request'
         WHEN mod(s.i, 3) = 0 THEN 'cli' WHEN mod(s.i, 3) = 1 THEN 'poll' ELSE 'rebuild' END,
    CASE WHEN s.r >= 0.95 THEN 'alice' END,
    false,
    s.queued,
    CASE WHEN s.status <> 'QUEUED' THEN s.queued + interval '2 seconds' END,
    CASE WHEN s.status NOT IN ('QUEUED', 'RUNNING')
         THEN s.queued + (40 + mod(s.i, 260)) * interval '1 second' END,
    'worker-' || (mod(s.i, 4)), 1, NULL, 'ocelot/busybox', true, '[]',
    CASE WHEN mod(s.i, 10) = 0 THEN 'lint' ELSE 'default' END,
    s.i - CASE WHEN mod(s.i, 10) = 0 THEN 1 ELSE 0 END
FROM (
    SELECT i,
        least({repos}, 1 + floor({repos} * power(random(), 2)))::int AS repo_id,
        md5((i - CASE WHEN mod(i, 10) = 0 THEN 1 ELSE 0 END)::text)
            || substr(md5('x' || (i - CASE WHEN mod(i, 10) = 0 THEN 1 ELSE 0 END)), 1, 8) AS hash,
        random() AS r,
        CASE WHEN i > {builds} - 4 THEN 'QUEUED'
             WHEN i > {builds} - 12 THEN 'RUNNING'
             WHEN mod(i, 50) = 7 THEN 'KILLED'
             WHEN mod(i, 50) = 8 THEN 'FAILED_PRESTART'
             WHEN mod(i, 50) = 9 THEN 'SKIPPED'
             WHEN mod(i, 7) = 3 THEN 'FAILED'
             ELSE 'PASSED' END AS status,
        now() - ({builds} - i) * interval '30 seconds' AS queued
    FROM generate_series(1, {builds}) AS i
) AS s
ORDER BY s.i
"""

SEED_STAGES = """
INSERT INTO stages (build_id, attempt, position, name, status, exit_code, started_at,
    finished_at, messages)
SELECT b.id, 1, p.position, p.name,
    CASE WHEN b.status IN ('PASSED', 'FAILED') THEN
        CASE WHEN b.status = 'FAILED' AND p.position = 1 THEN 'FAILED' ELSE 'PASSED' END
        WHEN b.status = 'RUNNING' THEN 'RUNNING' ELSE 'PENDING' END,
    CASE WHEN b.status = 'FAILED' AND p.position = 1 THEN 1
         WHEN b.status = 'PASSED' THEN 0 END,
    b.started_at, b.finished_at, '[]'
FROM builds AS b CROSS JOIN (VALUES (0, 'setup'), (1, 'test')) AS p (position, name)
WHERE b.status NOT IN ('SKIPPED', 'FAILED_PRESTART')
"""


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def seed(engine: Engine, repos: int = REPOS, builds: int = BUILDS) -> float:
    """``repos`` repositories in 10 groups and ``builds`` builds with their stages, then
    VACUUM ANALYZE (what autovacuum does for a live server). Returns the seconds it took."""
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT setseed(0.14)")
        conn.exec_driver_sql(
            'INSERT INTO repos (acct, name, full_name, url, vcs_type, "group", created_at,'
            " fork_prs, untrusted_prs)"
            " SELECT 'team' || (mod(n, 10)), 'svc' || n, 'team' || (mod(n, 10)) || '/svc' || n,"
            " '/srv/git/svc' || n, 'git', 'group-' || (mod(n, 10)), now(), 'approve', 'forks'"
            f" FROM generate_series(1, {repos}) AS n ORDER BY n"
        )
        conn.exec_driver_sql(SEED_BUILDS.format(repos=repos, builds=builds))
        conn.exec_driver_sql(SEED_STAGES)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("VACUUM ANALYZE repos")
        conn.exec_driver_sql("VACUUM ANALYZE builds")
        conn.exec_driver_sql("VACUUM ANALYZE stages")
    return time.perf_counter() - start


@dataclass
class Read:
    """One read the CLI makes: its label, the command that makes it and its paths (several:
    each request takes the next, so a hash prefix is not the same one every time)."""

    label: str
    command: str
    paths: list[str]


def reads(engine: Engine) -> list[Read]:
    """The reads, aimed at the busiest repository, a typical one and real hash prefixes."""
    with engine.connect() as conn:
        busy, typical = (
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT r.full_name FROM repos r JOIN"
                " (SELECT repo_id, count(*) AS n FROM builds GROUP BY repo_id) c"
                " ON c.repo_id = r.id ORDER BY c.n DESC LIMIT 1"
            ).all()
            + conn.exec_driver_sql(
                "SELECT full_name FROM repos ORDER BY id OFFSET (SELECT count(*) / 2 FROM repos)"
                " LIMIT 1"
            ).all()
        )
        hashes = [
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT hash FROM builds WHERE mod(id, 9973) = 1 ORDER BY id LIMIT 50"
            )
        ]
        busy_hashes = [
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT b.hash FROM builds b JOIN repos r ON r.id = b.repo_id"
                f" WHERE r.full_name = '{busy}' AND mod(b.id, 97) = 1 ORDER BY b.id LIMIT 50"
            )
        ]
    rnd = random.Random(14)
    prefixes = [h[: rnd.choice((4, 7, 12))] for h in hashes]
    busy_prefixes = [h[:7] for h in busy_hashes]
    busy_path = "/api/v1/repos/" + busy
    return [
        Read("builds of a repo", "`GET /api/v1/builds?repo=…`", [f"/api/v1/builds?repo={busy}"]),
        Read(
            "builds of a typical repo",
            "`GET /api/v1/builds?repo=…`",
            [f"/api/v1/builds?repo={typical}"],
        ),
        Read("summary of a repo", "`ocelot summary ACCT/REPO`", [f"{busy_path}/builds?limit=20"]),
        Read(
            "summary of a repo, one branch",
            "`ocelot summary ACCT/REPO --branch release/1.3`",
            [f"{busy_path}/builds?limit=20&branch=release/1.3"],
        ),
        Read(
            "summary of a repo, one pipeline",
            "`ocelot summary ACCT/REPO -p lint`",
            [f"{busy_path}/builds?limit=20&pipeline=lint"],
        ),
        Read(
            "summary of a repo, a pipeline it never ran",
            "`ocelot summary ACCT/REPO -p deploy`",
            [f"{busy_path}/builds?limit=20&pipeline=deploy"],
        ),
        Read(
            "summary of every repo", "`ocelot summary` (no checkout)", ["/api/v1/builds?limit=20"]
        ),
        Read(
            "summary of every repo, one branch",
            "`ocelot summary --branch release/1.3`",
            ["/api/v1/builds?limit=20&branch=release/1.3"],
        ),
        Read(
            "summary of every repo, a branch nobody built",
            "`ocelot summary --branch typo`",
            ["/api/v1/builds?limit=20&branch=typo"],
        ),
        Read(
            "build by hash prefix, any repo",
            "`ocelot status H` (4-12 hex digits)",
            [f"/api/v1/builds?hash={p}&limit=50" for p in prefixes],
        ),
        Read(
            "build by hash prefix in a repo",
            "`ocelot status ACCT/REPO --hash H`",
            [f"{busy_path}/builds?hash={p}&limit=50" for p in busy_prefixes],
        ),
        Read(
            f"repository list with last builds ({REPOS} repos)",
            "`ocelot repos list`",
            ["/api/v1/repos"],
        ),
    ]


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements run inside the block, with their parameters (for EXPLAIN)."""
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def server_times(get: Callable[[str], Any], paths: list[str], runs: int) -> list[float]:
    for path in paths[:5]:
        get(path)  # warm: the connection open, the index pages in the cache
    samples = []
    for n in range(runs):
        path = paths[n % len(paths)]
        start = time.perf_counter()
        resp = get(path)
        samples.append(time.perf_counter() - start)
        assert resp.status_code == 200, (path, resp.status_code, resp.get_data()[:300])
    return samples


def with_limit(path: str, limit: int) -> str:
    if "limit=" in path:
        head, _, tail = path.partition("limit=")
        rest = tail.partition("&")[2]
        return f"{head}limit={limit}" + (f"&{rest}" if rest else "")
    return path + ("&" if "?" in path else "?") + f"limit={limit}"


def count_statements(engine: Engine, client: FlaskClient, read: Read, headers: Any) -> str:
    """Statements for 5 and for 500 rows returned (the repo list: its whole length)."""
    counts = []
    for limit in (5, 500):
        path = with_limit(read.paths[0], limit) if "/builds" in read.paths[0] else read.paths[0]
        with statements(engine) as seen:
            client.get(path, headers=headers)
        counts.append(len(seen))
    return f"{counts[0]}" if counts[0] == counts[1] else f"{counts[0]} → {counts[1]}"


def explain(engine: Engine, client: FlaskClient, path: str, headers: Any) -> list[str]:
    """The plan of each statement a request runs but the token check (EXPLAIN ANALYZE)."""
    with statements(engine) as seen:
        client.get(path, headers=headers)
    plans = []
    with engine.connect() as conn:
        for statement, params in seen:
            if "api_tokens" in statement:
                continue
            rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {statement}", params)
            plans.append(statement.split("\n")[0][:100])
            plans.extend("    " + row[0] for row in rows)
    return plans


def run(show_plans: bool = False) -> dict[str, Any]:
    """Seed, then time each read. The result: seed seconds, floor and one entry per read
    (p95, median, statements), and the plans when ``show_plans``."""
    server = PostgresServer()
    try:
        url = server.create_database()
        settings = load_settings(
            {
                "OCELOT_HOME": str(server.workdir / "home"),
                "OCELOT_DATABASE_URL": url,
                "OCELOT_BROKER_URL": "redis://127.0.0.1:1/0",  # the reads measured need none
            }
        )
        migrate(settings)
        engine = make_engine(settings)
        seed_s = seed(engine)
        with session_scope(engine) as session:
            token = create_token(session, "bench", role="read")
        headers = {"Authorization": f"Bearer {token}"}
        client = create_app(settings).test_client()
        client.get("/api/v1/repos", headers=headers)
        gc.collect()
        gc.freeze()  # as web/wsgi.py does after start-up
        floor = server_times(lambda p: client.get(p), ["/healthz"], REQUESTS)
        out: dict[str, Any] = {
            "builds": BUILDS,
            "repos": REPOS,
            "seed_s": seed_s,
            "floor_p95": p95(floor),
            "floor_median": statistics.median(floor),
            "reads": [],
        }
        for read in reads(engine):
            took = server_times(lambda p: client.get(p, headers=headers), read.paths, REQUESTS)
            entry = {
                "label": read.label,
                "command": read.command,
                "p95": p95(took),
                "median": statistics.median(took),
                "statements": count_statements(engine, client, read, headers),
            }
            if show_plans:
                entry["plans"] = explain(engine, client, read.paths[0], headers)
            out["reads"].append(entry)
        gc.unfreeze()
        dispose_engines()
        return out
    finally:
        server.stop()


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows of (measurement, Ocelot, floor, ratio) for bench/RESULTS.md."""
    floor = result["floor_p95"]
    table = [
        (
            f"API at {result['builds']:,} builds / {result['repos']:,} repos (PostgreSQL):"
            " seed with stages and VACUUM ANALYZE",
            f"{result['seed_s']:.0f} s",
            "-",
            "-",
        )
    ]
    for read in result["reads"]:
        table.append(
            (
                f"API, {read['label']} ({read['command']}): p95 server time, median"
                f" {read['median'] * 1000:.1f} ms, {read['statements']} SQL statements"
                f" at 5 and 500 rows (target p95 <= {TARGET * 1000:.0f} ms)",
                f"{read['p95'] * 1000:.1f} ms",
                f"`GET /healthz` {floor * 1000:.2f} ms",
                f"{read['p95'] / floor:.0f}x",
            )
        )
    return table


def measure() -> list[tuple[str, str, str, str]]:
    """What ``make bench`` calls: the rows of one :func:`run` (one row saying why not when
    PostgreSQL is not installed)."""
    if not (PG_BIN / "postgres").exists():
        why = f"not measured: no PostgreSQL in {PG_BIN} (make deps WITH_POSTGRES=1)"
        return [(f"API at {BUILDS:,} builds", why, "-", "-")]
    return rows(run())


if __name__ == "__main__":
    result = run(show_plans=True)
    for row in rows(result):
        print(" | ".join(row))
    for read in result["reads"]:
        print(f"\n== {read['label']}: {read['command']}")
        print("\n".join(read["plans"]))
