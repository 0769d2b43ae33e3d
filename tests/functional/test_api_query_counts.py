"""The API's list reads at scale, on SQLite and PostgreSQL: a fixed number of SQL statements
whatever the number of rows (no query per build or per repository), the same answers as a
plain reading of the rows, and the indexes of migration 0016 serving the hash-prefix and
branch filters (the plans, not the timings: those are in bench/api_scale.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.models import Build, Repo, Stage, utcnow
from ocelot.services.builds import hash_prefix_filter
from tests.sqlcount import counted

# hashes chosen so prefixes end in 9 and f (the range written out for SQLite steps past them)
HASHES = ("a19f", "a19f00", "a1a0", "a199", "a190", "b2c3", "a19fff", "0a19")


def seed(engine: Engine, repos: int, builds_per_repo: int) -> dict[str, list[dict[str, Any]]]:
    """``repos`` repositories (two groups; the last one without builds) with builds on two
    branches and two pipelines, each with two stages of attempt 1 and, for every third, a
    second attempt's stage. Returns each repository's builds, oldest first."""
    now = utcnow()
    made: dict[str, list[dict[str, Any]]] = {}
    with engine.begin() as conn:
        for r in range(repos):
            full_name = f"acme/r{r:03d}"
            repo_id = conn.execute(
                insert(Repo).returning(Repo.id),
                {
                    "acct": "acme",
                    "name": f"r{r:03d}",
                    "full_name": full_name,
                    "url": "/tmp/nowhere",
                    "group": f"g{r % 2}",
                },
            ).scalar_one()
            made[full_name] = []
            if r == repos - 1:
                continue
            for k in range(builds_per_repo):
                row = {
                    "repo_id": repo_id,
                    "hash": f"{HASHES[(r + k) % len(HASHES)]}{r:04x}{k:030x}",
                    "branch": "master" if k % 3 else f"feature/{k % 2}",
                    "pipeline": "lint" if k % 4 == 0 else "default",
                    "status": "PASSED" if k % 5 else "FAILED",
                    "trigger": "push",
                    "queued_at": now + timedelta(seconds=k),
                    "started_at": now + timedelta(seconds=k, milliseconds=250),
                    "finished_at": now + timedelta(seconds=k + 3, microseconds=1234)
                    if k % 6
                    else None,
                    "attempt": 2 if k % 3 == 0 else 1,
                    "history": [],
                }
                build_id = conn.execute(insert(Build).returning(Build.id), row).scalar_one()
                stages = [(1, 0, "setup"), (1, 1, "test")] + ([(2, 0, "again")] * (k % 3 == 0))
                conn.execute(
                    insert(Stage),
                    [
                        {"build_id": build_id, "attempt": a, "position": p, "name": n}
                        for a, p, n in stages
                    ],
                )
                made[full_name].append({**row, "id": build_id, "repo": full_name})
    return made


def statements(engine: Engine, client: FlaskClient, auth: dict[str, str], path: str) -> int:
    with counted(engine) as seen:
        resp = client.get(path, headers=auth)
    assert resp.status_code == 200, resp.get_json()
    (rows,) = resp.get_json().values()
    assert rows, path  # at least one row: an empty list may skip a statement
    return len(seen)


READS = (
    "/api/v1/builds?limit={n}",
    "/api/v1/builds?repo=acme/r000&limit={n}",
    "/api/v1/repos/acme/r000/builds?limit={n}",
    "/api/v1/builds?branch=master&limit={n}",
    "/api/v1/repos/acme/r000/builds?branch=master&pipeline=default&limit={n}",
    "/api/v1/builds?hash=a19f&limit={n}",
    "/api/v1/repos/acme/r000/builds?hash=a19f&limit={n}",
    "/api/v1/repos",
    "/api/v1/repos?group=g0",
)


def test_statements_do_not_grow_with_rows(
    client: FlaskClient, auth: dict[str, str], engine: Engine
) -> None:
    seed(engine, repos=3, builds_per_repo=2)
    few = {path: statements(engine, client, auth, path.format(n=1)) for path in READS}
    with engine.begin() as conn:
        for table in ("stages", "builds", "repos"):
            conn.execute(text(f"DELETE FROM {table}"))
    seed(engine, repos=25, builds_per_repo=30)
    many = {path: statements(engine, client, auth, path.format(n=500)) for path in READS}
    assert many == few
    # the second time the lists really were long
    assert len(client.get("/api/v1/builds?limit=500", headers=auth).get_json()["builds"]) == 500
    repos = client.get("/api/v1/repos", headers=auth).get_json()["repos"]
    assert len(repos) == 25 and sum(r["last_build"] is not None for r in repos) == 24
    # a build list is the token, the repository, the builds and their stages
    assert few["/api/v1/builds?repo=acme/r000&limit={n}"] - few["/api/v1/builds?limit={n}"] == 1


def test_build_lists_match_the_rows(
    client: FlaskClient, auth: dict[str, str], engine: Engine
) -> None:
    made = seed(engine, repos=4, builds_per_repo=12)
    every = sorted((b for rows in made.values() for b in rows), key=lambda b: -b["id"])

    def ids(path: str) -> list[int]:
        resp = client.get(path, headers=auth)
        assert resp.status_code == 200, resp.get_json()
        return [b["id"] for b in resp.get_json()["builds"]]

    def expect(limit: int = 20, **match: Any) -> list[int]:
        def ok(b: dict[str, Any]) -> bool:
            if "prefix" in match and not b["hash"].startswith(match["prefix"]):
                return False
            return all(b[k] == v for k, v in match.items() if k != "prefix")

        return [b["id"] for b in every if ok(b)][:limit]

    assert ids("/api/v1/builds") == expect()
    assert ids("/api/v1/builds?limit=500") == expect(500)
    assert ids("/api/v1/builds?repo=acme/r001") == expect(repo="acme/r001")
    assert ids("/api/v1/repos/acme/r002/builds?limit=5") == expect(5, repo="acme/r002")
    assert ids("/api/v1/builds?branch=feature/1&limit=100") == expect(100, branch="feature/1")
    assert ids("/api/v1/repos/acme/r000/builds?branch=master&pipeline=lint") == expect(
        repo="acme/r000", branch="master", pipeline="lint"
    )
    assert ids("/api/v1/builds?branch=nothing-here") == []
    for prefix in ("a19f", "a19f0", "a199", "a1a0", "0a19", "b2c3", "A19F", "a19fff", "fff0"):
        expected = expect(500, prefix=prefix.lower())
        assert ids(f"/api/v1/builds?hash={prefix}&limit=500") == expected, prefix
        assert ids(f"/api/v1/repos/acme/r001/builds?hash={prefix}&limit=500") == [
            i for i in expected if i in set(expect(500, repo="acme/r001"))
        ], prefix
    assert len(expect(500, prefix="a19f")) > len(expect(500, prefix="a19ff")) > 0
    assert ids("/api/v1/builds?hash=zzzz") == []
    assert client.get("/api/v1/builds?hash=a1", headers=auth).status_code == 400

    listed = client.get("/api/v1/builds?repo=acme/r000&limit=500", headers=auth).get_json()
    for build in listed["builds"]:
        names = [s["name"] for s in build["stages"]]
        assert names == (["again"] if build["attempt"] == 2 else ["setup", "test"]), build["id"]
        assert build["repo"] == "acme/r000"


def test_repo_list_carries_each_last_build(
    client: FlaskClient, auth: dict[str, str], engine: Engine
) -> None:
    made = seed(engine, repos=5, builds_per_repo=8)
    with engine.begin() as conn:  # a time on the second: written without microseconds
        conn.execute(
            text("UPDATE builds SET queued_at = :at WHERE id = :id"),
            {"at": datetime(2026, 1, 2, 3, 4, 5), "id": made["acme/r000"][-1]["id"]},
        )
    repos = client.get("/api/v1/repos", headers=auth).get_json()["repos"]
    assert repos[0]["last_build"]["queued_at"] == "2026-01-02T03:04:05Z"
    assert [r["full_name"] for r in repos] == sorted(made)
    for repo in repos:
        alone = client.get(f"/api/v1/repos/{repo['full_name']}", headers=auth).get_json()
        assert {k: v for k, v in repo.items() if k != "last_build"} == alone
        builds = made[repo["full_name"]]
        if not builds:
            assert repo["last_build"] is None
            continue
        newest = builds[-1]
        last = repo["last_build"]
        assert (last["id"], last["status"], last["branch"], last["pipeline"]) == (
            newest["id"],
            newest["status"],
            newest["branch"],
            newest["pipeline"],
        )
        assert last["hash"] == newest["hash"] and last["hash_short"] == newest["hash"][:7]
        whole = client.get(f"/api/v1/builds/{newest['id']}", headers=auth).get_json()
        assert last == {k: whole[k] for k in last}
    assert all(r["last_build"]["duration_seconds"] == 2.751 for r in repos if r["last_build"])
    grouped = client.get("/api/v1/repos?group=g1", headers=auth).get_json()["repos"]
    assert [r["full_name"] for r in grouped] == ["acme/r001", "acme/r003"]
    assert grouped[0]["last_build"]["id"] == made["acme/r001"][-1]["id"]


def plan(engine: Engine, query: Any) -> str:
    """The plan of ``query`` with sequential scans priced out (tables this small are read
    whole otherwise): an index the plan names is one that can serve the query."""
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
            return "\n".join(str(row[-1]) for row in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")
        rows = conn.exec_driver_sql(f"EXPLAIN {compiled}").all()
        return "\n".join(str(row[0]) for row in rows)


def test_hash_prefix_is_served_by_an_index(engine: Engine) -> None:
    """In PostgreSQL only an index of pattern operators serves ``LIKE 'abc%'`` whatever the
    collation; SQLite's LIKE serves none, so the prefix is also a range."""
    seed(engine, repos=2, builds_per_repo=5)
    with session_scope(engine) as session:
        by_hash = select(Build.id).where(*hash_prefix_filter(session, "a19f"))
    found = plan(engine, by_hash)
    if engine.dialect.name == "sqlite":
        assert "SEARCH builds USING COVERING INDEX ix_builds_hash (hash>? AND hash<?)" in found
    else:
        assert "ix_builds_hash" in found and "Index Cond: (((hash)::text ~>=~ 'a19f'" in found
        with engine.connect() as conn:
            indexdef = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_builds_hash'"
            ).scalar_one()
        assert "varchar_pattern_ops" in indexdef


def test_the_migrations_made_the_models_indexes(engine: Engine) -> None:
    made = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("builds")}
    declared = {ix.name: [c.name for c in ix.columns] for ix in Build.__table__.indexes}
    assert made == declared
    assert made["ix_builds_repo_id_branch_id"] == ["repo_id", "branch", "id"]
    assert "ix_builds_repo_id" not in made  # ix_builds_repo_id_id serves its lookups
