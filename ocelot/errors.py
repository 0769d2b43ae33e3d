"""The one error tree of Ocelot.

Every error that Ocelot raises on purpose derives from :class:`OcelotError`. The web layer
(``web/errors.py``) is the only place these become HTTP responses; the CLI turns them into
messages on stderr and exit codes. A failing *build* is a status, never an exception.

::

    OcelotError                      (500 / exit 1)
     ├── InvalidRequest              (400)  bad input from a caller
     │    └── PayloadTooLarge        (413)
     ├── ConfigError                 (422)  ocelot.yml invalid; carries ``issues``
     ├── Unauthorized                (401)  no or invalid credentials
     ├── PermissionDenied            (403)
     ├── NotFound                    (404)
     │    └── NotTracked             (404 / exit 3) "ACCT/REPO isn't tracked by ocelot"
     ├── Conflict                    (409)  e.g. killing a finished build
     │    ├── WorkerNameTaken        (409 / exit 3) a live worker holds OCELOT_WORKER_NAME
     │    └── SubscriptionCycle      (409)  a subscription would close a loop; carries ``cycle``
     ├── ForgeError                  (502)  a forge API failed
     ├── ExecutorError               (500)  docker / process execution failed
     ├── SourceError                 (502)  fetching or checking out the repository failed
     ├── SecretError                 (500)  secret store missing, locked or wrong key
     ├── NotifierError               (502)  a notification transport failed
     └── DependencyUnavailable       (503)  DB, Redis, Docker or Vault unreachable
          └── DatabaseUnreachable    (503)  the DB stayed unreachable past a retry budget
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class OcelotError(Exception):
    """Base of every deliberate Ocelot error."""

    status_code = 500
    code = "internal"
    exit_code = 1

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        body.update(self.details)
        return body


class InvalidRequest(OcelotError):
    status_code = 400
    code = "invalid_request"


class PayloadTooLarge(InvalidRequest):
    status_code = 413
    code = "payload_too_large"


class ConfigError(OcelotError):
    """ocelot.yml is invalid. ``issues`` lists every problem found, not just the first."""

    status_code = 422
    code = "invalid_config"

    def __init__(self, message: str, issues: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.issues = list(issues)

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["issues"] = [i.to_dict() if hasattr(i, "to_dict") else str(i) for i in self.issues]
        return body


class Unauthorized(OcelotError):
    status_code = 401
    code = "unauthorized"


class PermissionDenied(OcelotError):
    status_code = 403
    code = "forbidden"


class NotFound(OcelotError):
    status_code = 404
    code = "not_found"


class NotTracked(NotFound):
    """A command or request named a repository Ocelot does not track."""

    code = "not_tracked"
    exit_code = 3

    def __init__(self, full_name: str) -> None:
        super().__init__(f"{full_name} isn't tracked by ocelot", repo=full_name)


class Conflict(OcelotError):
    status_code = 409
    code = "conflict"


class WorkerNameTaken(Conflict):
    """A worker started with a name that another, live worker holds (the workers registry,
    :mod:`ocelot.services.workers`). ``python -m worker`` prints it and exits 3."""

    code = "worker_name_taken"
    exit_code = 3


class SubscriptionCycle(Conflict):
    """A subscription that would close a loop of upstream → downstream builds; ``cycle`` is
    the loop in build order, first and last the same repository (``ocelot subscribe``)."""

    code = "subscription_cycle"

    def __init__(self, downstream: str, upstream: str, cycle: Sequence[str]) -> None:
        super().__init__(
            f"{downstream} cannot subscribe to {upstream}: the builds would go round in a "
            f"cycle: {' → '.join(cycle)}",
            cycle=list(cycle),
        )


class ForgeError(OcelotError):
    status_code = 502
    code = "forge_error"


class ExecutorError(OcelotError):
    code = "executor_error"


class SourceError(OcelotError):
    status_code = 502
    code = "source_error"


class SecretError(OcelotError):
    code = "secret_error"


class NotifierError(OcelotError):
    status_code = 502
    code = "notifier_error"


class DependencyUnavailable(OcelotError):
    status_code = 503
    code = "dependency_unavailable"


class DatabaseUnreachable(DependencyUnavailable):
    """The database stayed unreachable for longer than a caller could wait
    (:func:`ocelot.retrying.retry_db`); the message says for how long and while doing what."""

    code = "database_unreachable"
