"""Notifications: *when* to tell people about a build apart from *how*.

* :mod:`ocelot.notifiers.policy` — when: ``PASS``, ``FAIL``, ``FIXED``, ``CHANGED`` (pure
  functions, plus one query for the previous build of the branch);
* :mod:`ocelot.notifiers.message` — what: one :class:`~ocelot.notifiers.message.Message`
  rendered as plain text (email) or Slack blocks;
* :mod:`ocelot.notifiers.slack`, :mod:`ocelot.notifiers.email` — how: the transports, behind
  the :class:`~ocelot.notifiers.base.Notifier` Protocol.

Delivery (claiming, recording each attempt, retrying) lives in
:mod:`ocelot.services.notifications` and the ``ocelot.notify.*`` Celery tasks.
"""

from ocelot.notifiers.base import Notifier, NotifierError, TransientNotifierError

__all__ = ["Notifier", "NotifierError", "TransientNotifierError"]
