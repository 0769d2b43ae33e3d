"""``python -m worker``: start a Celery worker consuming the queues this host should take.

Docker workers take ``builds``; workers with ``OCELOT_WORKER_TAGS`` also take
``builds.<tag>`` for each tag; a local-executor worker takes only its tags (it cannot run
image builds). Every worker takes ``notify``, ``forge`` and its own ``ocelot.worker.<name>``
queue in its stage pool (``--concurrency=OCELOT_MAX_BUILDS``), and ``control`` and
``maintenance`` in its control pool, a second small worker process that its main process
starts once ready (``python -m worker control-pool``, :mod:`worker.control_pool`).
``python -m worker beat`` starts the scheduler instead.

Before Celery starts, a worker registers itself in the workers registry
(:mod:`ocelot.services.workers`) under a new boot id, which it leaves in the app's conf for
its heartbeat (:mod:`worker.registry`); a worker whose name a live worker holds exits 3.
"""

from __future__ import annotations

import logging
import sys
import uuid

from sqlalchemy.exc import SQLAlchemyError

from ocelot import queues
from ocelot.db import dispose_engines, make_engine, session_scope
from ocelot.dependencies import wait_for_dependencies
from ocelot.errors import DependencyUnavailable, SecretError, WorkerNameTaken
from ocelot.secrets import check_secret_store
from ocelot.services import workers
from ocelot.settings import Settings, load_settings
from worker import control_pool, metrics, registry


def worker_queues(settings: Settings) -> list[str]:
    """The queues this host's stage pool consumes: those of
    :func:`ocelot.queues.worker_queues` but ``control``, which with ``maintenance`` is its
    control pool's (:mod:`worker.control_pool`)."""
    every = queues.worker_queues(
        settings.worker_name, settings.worker_executor == "docker", settings.worker_tags
    )
    return [q for q in every if q not in queues.CONTROL_POOL_QUEUES]


def _wait(settings: Settings, needs: list[str], what: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        wait_for_dependencies(settings, needs, settings.dependency_timeout)
        if "database" in needs:  # stored credentials must be readable (OCELOT_SECRET_KEY)
            check_secret_store(settings, make_engine(settings))
    except (DependencyUnavailable, SecretError) as exc:
        print(f"ocelot {what}: {exc.message}", file=sys.stderr)
        sys.exit(3)


def _register(settings: Settings) -> str:
    """Take the worker's name in the registry for a new boot and return the boot id; exit 3
    with the reason when a live worker holds the name or the registry cannot be written."""
    boot_id = uuid.uuid4().hex
    try:
        with session_scope(make_engine(settings)) as session:
            workers.register(session, settings, boot_id)
    except WorkerNameTaken as exc:
        print(f"ocelot worker: {exc.message}", file=sys.stderr)
        sys.exit(3)
    except SQLAlchemyError as exc:
        print(
            f"ocelot worker: could not register {settings.worker_name!r} in the workers "
            f"registry: {getattr(exc, 'orig', None) or exc} (is the database migrated? "
            "`ocelot admin migrate`)",
            file=sys.stderr,
        )
        sys.exit(3)
    finally:
        dispose_engines()  # no connection of this process crosses the fork of the pool
    return boot_id


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    settings = load_settings()
    from worker.app import app  # built from the environment: only when a process starts

    if argv[:1] == ["beat"]:
        _wait(settings, ["database", "redis"], "beat")
        beat_file = settings.home / "celerybeat-schedule"
        settings.home.mkdir(parents=True, exist_ok=True)
        app.start(["beat", "--loglevel=INFO", f"--schedule={beat_file}", *argv[1:]])
        return
    if argv[:1] == [control_pool.CONTROL]:  # started by a worker's main process, once ready
        setattr(app.conf, control_pool.ROLE, control_pool.CONTROL)
        control_pool.watch_parent()
        app.worker_main(
            [
                "worker",
                "--loglevel=INFO",
                f"--hostname=ocelot-control@{settings.worker_name}",
                f"--queues={','.join(queues.CONTROL_POOL_QUEUES)}",
                f"--concurrency={control_pool.CONCURRENCY}",
                "--without-gossip",
                "--without-mingle",
                *argv[1:],
            ]
        )
        return
    needs = ["database", "redis", "vault"]
    if settings.worker_executor == "docker":
        needs.append("docker")
    _wait(settings, needs, "worker")
    setattr(app.conf, registry.BOOT_ID, _register(settings))
    metrics.prepare(settings)  # before the pool forks (multiprocess metrics)
    app.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--hostname=ocelot@{settings.worker_name}",
            f"--queues={','.join(worker_queues(settings))}",
            f"--concurrency={max(1, settings.max_builds)}",
            "--without-gossip",
            "--without-mingle",
            *argv,
        ]
    )


if __name__ == "__main__":
    main()
