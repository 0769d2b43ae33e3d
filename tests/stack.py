"""A whole Ocelot server side for tests and benchmarks: database, API on a real HTTP port,
worker processes, and real git repositories."""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from werkzeug.serving import make_server

from ocelot.db import dispose_engines, make_engine, migrate, session_scope
from ocelot.installation import instance_id
from ocelot.services.tokens import create_token
from ocelot.settings import Settings, load_settings
from tests.servers import Process, RedisServer, free_port
from tests.waiting import eventually
from web import create_app

FINISHED = {"PASSED", "FAILED", "FAILED_PRESTART", "KILLED", "SKIPPED"}
_names = itertools.count(1)


def docker_ok() -> tuple[bool, str]:
    try:
        import docker

        client = docker.from_env()
        client.ping()
        client.images.get("ocelot/busybox:latest")
        return True, ""
    except Exception as exc:  # noqa: BLE001 - any failure means the tier cannot run
        return False, f"docker daemon or image ocelot/busybox unavailable: {exc}"


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def own_stack(tmp_path: Path, env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """A stack with a Redis of its own (database 0), for a test that starts and stops its
    own workers; both are stopped when it ends."""
    redis = RedisServer(tmp_path)
    stack = Stack(tmp_path / "stack", redis, db=0, env=env)
    try:
        yield stack
    finally:
        stack.close()
        redis.stop()


def make_repo(
    path: Path, files: Mapping[str, str], branch: str = "master", message: str = "initial"
) -> str:
    """A real git repository with ``files`` committed on ``branch`` (a new commit even when
    nothing changed); returns the commit."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        git("init", "-q", "-b", branch, cwd=path)
    else:
        subprocess.run(["git", "checkout", "-q", "-B", branch], cwd=path, check=True)
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git("add", "-A", cwd=path)
    git("commit", "-q", "--allow-empty", "-m", message, cwd=path)
    return git("rev-parse", "HEAD", cwd=path)


class Stack:
    """The server side of Ocelot for a test session: DB, API (real HTTP), workers."""

    def __init__(
        self,
        root: Path,
        redis: RedisServer,
        db: int = 1,
        env: Mapping[str, str] | None = None,
        broker_url: str | None = None,
    ) -> None:
        self.root = root
        self.redis = redis
        # Its own Redis database, apart from the functional tier's (db 0); or a whole broker
        # URL as given (sentinel://..., tests/sentinel.py).
        self.broker_url = broker_url or redis.url.rsplit("/", 1)[0] + f"/{db}"
        self.env = {
            "OCELOT_HOME": str(root / "home"),
            "OCELOT_DATABASE_URL": f"sqlite:///{root / 'ocelot.db'}",
            "OCELOT_BROKER_URL": self.broker_url,
            "OCELOT_KILL_GRACE": "2",
            # The warm pool (on by default) is off here: these tests find a build's containers
            # by their build labels, which a claimed pool container does not carry. The pool
            # has its own tests (test_warm_pool.py), and the two-host tests run with it on.
            "OCELOT_WARM_CONTAINERS": "0",
            # Credentials and webhook secrets live in the encrypted store: one key per stack.
            "OCELOT_SECRET_KEY": Fernet.generate_key().decode(),
            **(env or {}),
        }
        self.settings: Settings = load_settings(self.env)
        migrate(self.settings)
        self.engine: Engine = make_engine(self.settings)
        # The installation id the workers will read from the database (or OCELOT_INSTANCE):
        # tests find this stack's containers by it.
        self.settings = self.settings.with_(instance=instance_id(self.settings, self.engine))
        with session_scope(self.engine) as session:
            self.token = create_token(session, "integration")
        self.auth = {"Authorization": f"Bearer {self.token}"}
        self.app = create_app(self.settings)
        self.client = self.app.test_client()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.workers: list[Process] = []

    def start_worker(
        self,
        name: str,
        executor: str = "docker",
        tags: tuple[str, ...] = (),
        extra: Mapping[str, str] | None = None,
    ) -> Process:
        env = {
            **self.env,
            "OCELOT_WORKER_NAME": name,
            "OCELOT_WORKER_EXECUTOR": executor,
            "OCELOT_WORKER_TAGS": ",".join(tags),
            **(extra or {}),
        }
        proc = Process(["-m", "worker"], env, self.root / f"worker-{name}.log")
        self.workers.append(proc)
        proc.wait_for_log("ready.", timeout=60)
        return proc

    def start_beat(self) -> Process:
        proc = Process(["-m", "worker", "beat"], self.env, self.root / "beat.log")
        self.workers.append(proc)
        proc.wait_for_log("beat: Starting", timeout=60)
        return proc

    def stop_worker(self, proc: Process) -> None:
        proc.stop()
        self.workers.remove(proc)

    def add_repo(self, path: Path, name: str | None = None) -> str:
        name = name or f"acme/repo{next(_names)}"
        resp = self.client.post(
            "/api/v1/repos", headers=self.auth, json={"full_name": name, "url": str(path)}
        )
        assert resp.status_code == 201, resp.get_json()
        return name

    def build(self, repo: str, **body: Any) -> int:
        resp = self.client.post(f"/api/v1/repos/{repo}/builds", headers=self.auth, json=body)
        assert resp.status_code == 201, resp.get_json()
        return int(resp.get_json()["id"])

    def get(self, build_id: int) -> dict[str, Any]:
        resp = self.client.get(f"/api/v1/builds/{build_id}", headers=self.auth)
        assert resp.status_code == 200
        return resp.get_json()  # type: ignore[no-any-return]

    def wait(self, build_id: int, timeout: float = 90) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            resp = self.client.get(f"/api/v1/builds/{build_id}", headers=self.auth)
            if resp.status_code != 200:  # e.g. the first request after a database restart
                return None
            build: dict[str, Any] = resp.get_json()
            return build if build["status"] in FINISHED else None

        def what() -> str:
            logs = "\n".join(p.log.read_text()[-2000:] for p in self.workers)
            return f"build {build_id} to finish: {self.get(build_id)}\n{logs}"

        return eventually(finished, timeout, what, interval=0.2)

    def logs(self, build_id: int) -> str:
        resp = self.client.get(f"/api/v1/builds/{build_id}/logs", headers=self.auth)
        return resp.get_data(as_text=True)

    def close(self) -> None:
        for proc in list(self.workers):
            proc.stop()
        self._server.shutdown()
        dispose_engines()
        leftovers = remove_instance_leftovers(self.settings.instance)
        if leftovers:  # a worker stopped mid clean-up: say so, but leave nothing behind
            print(f"removed leftovers of stack {self.settings.instance}: {leftovers}")


def remove_instance_leftovers(instance: str) -> list[str]:
    """Remove the containers and volumes of one installation (the tests' own ``instance``):
    a worker stopped right after a build's status was final may not have finished removing
    them. Returns what was removed."""
    import docker

    label = {"label": f"ocelot.instance={instance}"}
    removed: list[str] = []
    try:
        client = docker.from_env()
        for container in client.containers.list(all=True, filters=label):
            container.remove(force=True)
            removed.append(container.name)
        for volume in client.volumes.list(filters=label):
            volume.remove(force=True)
            removed.append(volume.name)
    except docker.errors.DockerException:  # no daemon: nothing of ours can be there
        pass
    return removed
