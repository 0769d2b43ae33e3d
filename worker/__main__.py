"""``python -m worker``: start a Celery worker consuming the queues this host should take.

Docker workers take ``builds``; workers with ``OCELOT_WORKER_TAGS`` also take
``builds.<tag>`` for each tag; a local-executor worker takes only its tags (it cannot run
image builds). Every worker takes ``control``, ``notify``, ``forge`` and its own
``ocelot.worker.<name>`` queue.
``python -m worker beat`` starts the scheduler instead.
"""

from __future__ import annotations

import logging
import sys

from ocelot import queues
from ocelot.db import make_engine
from ocelot.dependencies import wait_for_dependencies
from ocelot.errors import DependencyUnavailable, SecretError
from ocelot.secrets import check_secret_store
from ocelot.settings import Settings, load_settings


def worker_queues(settings: Settings) -> list[str]:
    """The queues this host's worker consumes (see :func:`ocelot.queues.worker_queues`)."""
    return queues.worker_queues(
        settings.worker_name, settings.worker_executor == "docker", settings.worker_tags
    )


def _wait(settings: Settings, needs: list[str], what: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        wait_for_dependencies(settings, needs, settings.dependency_timeout)
        if "database" in needs:  # stored credentials must be readable (OCELOT_SECRET_KEY)
            check_secret_store(settings, make_engine(settings))
    except (DependencyUnavailable, SecretError) as exc:
        print(f"ocelot {what}: {exc.message}", file=sys.stderr)
        sys.exit(3)


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
    needs = ["database", "redis", "vault"]
    if settings.worker_executor == "docker":
        needs.append("docker")
    _wait(settings, needs, "worker")
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
