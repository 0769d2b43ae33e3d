"""How a Celery app for Ocelot is built from :mod:`ocelot.settings`.

Building one constructs nothing else and imports no task: the web builds one from its own
settings to publish by task *name* (``web/extensions.py``); the worker's own app, with its
tasks, is ``worker.app.app``. Queue and task names live in :mod:`ocelot.queues`.
"""

from __future__ import annotations

from celery import Celery

from ocelot import queues
from ocelot.redis_client import celery_broker
from ocelot.settings import Settings, load_settings

TASK_MODULES = [
    "worker.tasks.builds",
    "worker.tasks.maintenance",
    "worker.tasks.notify",
    "worker.tasks.forge",
    "worker.tasks.polling",
    "worker.tasks.discovery",
    "worker.signals",  # the lifecycle handlers, connected in every worker and beat
]


def make_celery(settings: Settings | None = None) -> Celery:
    """A Celery app for ``settings`` (default: from the environment). Its tasks are
    :class:`worker.base.OcelotTask` (resolved by name only when a task is registered)."""
    settings = settings or load_settings()
    # A sentinel:// URL: kombu asks the Sentinels for the primary (master_name), and
    # publishing retries through a failover (ocelot.redis_client).
    broker_url, sentinel_options, publish_retry = celery_broker(settings)
    app = Celery(
        "ocelot",
        broker=broker_url,
        include=TASK_MODULES,
        task_cls="worker.base:OcelotTask",
        set_as_current=False,
    )
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=queues.CONTROL,
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600, **sentinel_options},
        worker_send_task_events=False,
        beat_schedule={
            "reap-lost-builds": {
                "task": queues.MAINTENANCE_REAP,
                "schedule": max(1.0, settings.lease_seconds / 3),
                "options": {"queue": queues.MAINTENANCE, "expires": 60},
            },
            "janitor": {
                "task": queues.MAINTENANCE_JANITOR,
                "schedule": 600.0,
                "options": {"queue": queues.MAINTENANCE, "expires": 300},
            },
            "reconcile-queued": {
                "task": queues.MAINTENANCE_RECONCILE,
                "schedule": min(30.0, max(1.0, settings.reconcile_after_seconds / 2)),
                "options": {"queue": queues.MAINTENANCE, "expires": 60},
            },
            "run-due-polls": {  # each poll has its own cron; this only looks for due ones
                "task": queues.POLLS_RUN_DUE,
                "schedule": 30.0,
                "options": {"queue": queues.CONTROL, "expires": 60},
            },
            "discover-repos": {  # a no-op unless OCELOT_DISCOVER lists accounts
                "task": queues.DISCOVERY_RUN,
                "schedule": max(60.0, settings.discover_interval),
                "options": {"queue": queues.CONTROL, "expires": 600},
            },
        },
        timezone="UTC",
    )
    if publish_retry is not None:
        app.conf.task_publish_retry_policy = publish_retry
    app.conf.ocelot_settings = settings
    return app
