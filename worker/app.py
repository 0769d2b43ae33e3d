"""The Celery app, built from :mod:`ocelot.settings`.

Queues:
  ``control``          route (every worker consumes it)
  ``builds``           prepare of untagged builds (Docker workers)
  ``builds.<tag>``     prepare of ``machineTag`` builds (workers started with that tag)
  ``ocelot.worker.<name>``  the stages and finish of builds prepared by worker <name>
  ``notify``           Slack / email notices of finished builds (every worker consumes it)
  ``forge``            commit statuses and PR comments, retried with backoff (every worker)
"""

from __future__ import annotations

from celery import Celery

from ocelot.settings import Settings, load_settings

TASK_MODULES = [
    "worker.tasks.builds",
    "worker.tasks.maintenance",
    "worker.tasks.notify",
    "worker.tasks.forge",
    "worker.tasks.polling",
    "worker.tasks.discovery",
]


def worker_queue(name: str) -> str:
    return f"ocelot.worker.{name}"


def send_route(app: Celery, build_id: int) -> None:
    """Publish the first step of a build's pipeline (after the build row is committed)."""
    app.send_task("ocelot.builds.route", args=[build_id], queue="control")


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    app = Celery("ocelot", broker=settings.broker_url, include=TASK_MODULES)
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="control",
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        worker_send_task_events=False,
        beat_schedule={
            "reap-lost-builds": {
                "task": "ocelot.maintenance.reap",
                "schedule": max(1.0, settings.lease_seconds / 3),
                "options": {"queue": "control", "expires": 60},
            },
            "janitor": {
                "task": "ocelot.maintenance.janitor",
                "schedule": 600.0,
                "options": {"queue": "control", "expires": 300},
            },
            "reconcile-queued": {
                "task": "ocelot.maintenance.reconcile",
                "schedule": min(30.0, max(1.0, settings.reconcile_after_seconds / 2)),
                "options": {"queue": "control", "expires": 60},
            },
            "run-due-polls": {  # each poll has its own cron; this only looks for due ones
                "task": "ocelot.polls.run_due",
                "schedule": 30.0,
                "options": {"queue": "control", "expires": 60},
            },
            "discover-repos": {  # a no-op unless OCELOT_DISCOVER lists accounts
                "task": "ocelot.discovery.run",
                "schedule": max(60.0, settings.discover_interval),
                "options": {"queue": "control", "expires": 600},
            },
        },
        timezone="UTC",
    )
    app.conf.ocelot_settings = settings
    return app


app = make_celery()
