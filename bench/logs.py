"""Logs at volume: a stage printing 100 MB (1,000,000 lines of 100 bytes), stored by
:class:`ocelot.logstream.LogWriter` driven directly (no stage, no container), in writes of 4 to
64 KiB cut anywhere (lines split across writes), as a worker's stage reader hands them on.

Each case runs in a child process (``python -m bench.logs --case DB STORE``), so its peak RSS
is its own; every line is read back and checked. Floor: the same writes to a plain file on the
same disk. Cases: SQLite and (when installed) PostgreSQL, each with the SQL and the file store;
SQLite again with secrets registered (redaction runs on every byte). Live publication to Redis
is included when a Redis server can be started.

``python -m bench.logs`` prints every case; ``make bench`` adds the default one (SQLite, SQL
store) to bench/RESULTS.md (:func:`measure`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LINES = int(os.environ.get("OCELOT_BENCH_LOG_LINES", "1000000"))
LINE = 100  # bytes, newline included
SEED = 14
RUNS = int(os.environ.get("OCELOT_BENCH_LOG_RUNS", "5"))  # per case; the median is reported


def line(n: int) -> bytes:
    return b"%09d " % n + b"x" * (LINE - 11) + b"\n"


def source(path: Path) -> None:
    """The stage's output: ``LINES`` numbered lines of ``LINE`` bytes."""
    with path.open("wb") as out:
        block = 10_000
        for start in range(0, LINES, block):
            out.write(b"".join(line(n) for n in range(start, min(start + block, LINES))))


def pieces(path: Path) -> Iterator[bytes]:
    """The output in the sizes a stage reader gets it: 4 to 64 KiB, cut anywhere."""
    rng = random.Random(SEED)
    with path.open("rb") as src:
        while data := src.read(rng.randint(4 * 1024, 64 * 1024)):
            yield data


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_case(db_url: str, store: str, home: Path, src: Path, redis_url: str, secrets: bool) -> Any:
    """One case, in this (child) process: seconds, peak RSS, lines checked."""
    from ocelot.db import make_engine, migrate, session_scope
    from ocelot.logstore import writer_files
    from ocelot.logstream import LogWriter, read_text
    from ocelot.models import Build, Repo
    from ocelot.secrets.redaction import identity, make_redactor
    from ocelot.settings import load_settings
    from ocelot.status import BuildStatus

    env = {"OCELOT_HOME": str(home), "OCELOT_DATABASE_URL": db_url, "OCELOT_LOG_STORE": store}
    settings = load_settings(env)
    migrate(settings)
    engine = make_engine(settings)
    with session_scope(engine) as session:
        repo = Repo(acct="bench", name="logs", full_name="bench/logs", url="/x")
        build = Build(repo=repo, branch="master", status=BuildStatus.RUNNING, attempt=1)
        session.add(build)
        session.flush()
        build_id = build.id
    redis = None
    if redis_url:
        import redis as redis_lib

        redis = redis_lib.Redis.from_url(redis_url)
    redact = (
        make_redactor(["s3cret-token-1", "another-secret", "AKIA0123456789"])
        if secrets
        else identity
    )
    start = time.perf_counter()
    with LogWriter(
        engine,
        redis,
        build_id,
        1,
        flush_seconds=settings.log_flush_seconds,
        flush_bytes=settings.log_flush_bytes,
        redact=redact,
        max_bytes=settings.max_log_bytes,
        files=writer_files(settings),
    ) as writer:
        writer.set_stage("print")
        for data in pieces(src):  # from the page cache
            writer.write(data)
    seconds = time.perf_counter() - start
    rss = peak_rss_mb()
    text = read_text(engine, build_id)
    got = text.split("\n")
    ok = got[-1] == "" and len(got) - 1 == LINES
    ok = ok and all(got[n] == line(n)[:-1].decode() for n in range(0, LINES, 997))
    ok = ok and text.encode() == src.read_bytes()
    return {"seconds": seconds, "rss_mb": rss, "intact": ok, "chunks": writer._seq}


def floor(src: Path, dest: Path) -> float:
    """The same writes to a plain file."""
    start = time.perf_counter()
    with dest.open("wb") as out:
        for data in pieces(src):
            out.write(data)
    return time.perf_counter() - start


def measure(every_case: bool = False) -> list[tuple[str, str, str, str]]:
    """Rows for bench/RESULTS.md: MB/s against the file floor, for the default set-up (SQLite,
    SQL store: ``make bench``), or ``every_case``."""
    from tests.servers import PG_BIN, PostgresServer, RedisServer

    root = Path(tempfile.mkdtemp(prefix="ocelot-bench-logs-"))
    src = root / "output.txt"
    source(src)
    size_mb = src.stat().st_size / 1e6
    redis = RedisServer(root)
    postgres = PostgresServer() if every_case and (PG_BIN / "initdb").exists() else None
    rows: list[tuple[str, str, str, str]] = []
    try:
        floor_s = statistics.median(floor(src, root / "floor.txt") for _ in range(RUNS))
        cases = [("sqlite", "sql", False)]
        if every_case:
            cases += [("sqlite", "files", False), ("sqlite", "sql", True)]
        if every_case and postgres is not None:
            cases += [("postgres", "sql", False), ("postgres", "files", False)]
        for n, (db, store, secrets) in enumerate(cases):
            home = root / f"case{n}"
            runs = []
            for run in range(RUNS):
                where = home / str(run)
                url = (
                    postgres.create_database()
                    if db == "postgres" and postgres is not None
                    else f"sqlite:///{where / 'ocelot.db'}"
                )
                argv = [sys.executable, "-m", "bench.logs", "--child", url, store, str(where)]
                argv += [str(src), redis.url, "secrets" if secrets else "-"]
                out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
                shutil.rmtree(where, ignore_errors=True)
            runs.sort(key=lambda r: r["seconds"])
            got = runs[len(runs) // 2]  # the median run
            got["intact"] = all(r["intact"] for r in runs)
            got["rss_mb"] = max(r["rss_mb"] for r in runs)
            rate = size_mb / got["seconds"]
            what = f"{size_mb:.0f} MB log ({LINES:,} lines), {db}, {store} store"
            what += ", 3 secrets" if secrets else ""
            rows.append(
                (
                    what,
                    f"{rate:.0f} MB/s (median of {RUNS}), peak RSS {got['rss_mb']:.0f} MB, "
                    + f"{got['chunks']} chunks, "
                    + ("every line intact" if got["intact"] else "**lines damaged**"),
                    f"plain file {size_mb / floor_s:.0f} MB/s",
                    f"{rate / (size_mb / floor_s):.2f}x",
                )
            )
    finally:
        redis.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=6, metavar="ARG")
    args = parser.parse_args()
    if args.child:
        url, store, home, src, redis_url, secrets = args.child
        result = run_case(url, store, Path(home), Path(src), redis_url, secrets == "secrets")
        print(json.dumps(result))
        return 0
    for row in measure(every_case=True):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
