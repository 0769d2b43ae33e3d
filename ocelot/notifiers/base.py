"""The transport contract every notifier follows, and the two kinds of delivery failure.

Lifecycle: a notifier is built for one delivery (``make_*`` in the transport module, from
settings and, for Slack, the decrypted credential), ``send`` is called once, and the object is
dropped. It holds no connection between calls, so one instance is never shared by threads.

Errors — the delivery code decides retries from the class alone:

* :class:`TransientNotifierError` — the transport may work later (connection refused, timeout,
  HTTP 5xx or 429, SMTP 4xx): the Celery task retries with backoff.
* any other :class:`~ocelot.errors.NotifierError` — retrying cannot help (no credential, bad
  webhook URL, HTTP 4xx, SMTP 5xx, authentication refused): recorded as ``failed`` at once.

Messages of both never contain a secret: transports pass theirs to
:func:`~ocelot.secrets.redaction.scrub` first.
"""

from __future__ import annotations

from typing import Protocol

from ocelot.errors import NotifierError
from ocelot.notifiers.message import Message
from ocelot.secrets.redaction import MASK, scrub


class TransientNotifierError(NotifierError):
    """A delivery failed in a way that may succeed when tried again."""

    code = "notifier_unavailable"


class Notifier(Protocol):
    """Sends one rendered message to one destination."""

    kind: str  # "slack" | "email"

    @property
    def target(self) -> str:
        """Where the message goes, safe to store and show (never a secret)."""
        ...

    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise :class:`NotifierError` /
        :class:`TransientNotifierError`."""
        ...


__all__ = ["MASK", "Notifier", "NotifierError", "TransientNotifierError", "scrub"]
