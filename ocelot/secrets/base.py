"""The secret backend contract: where the *values* of credentials live.

Ocelot keeps what it knows about a credential (account, type, identifier, username, URL) in
SQL (:class:`ocelot.models.Credential`) and the secret values in a :class:`SecretBackend`,
addressed by a path ``<acct>/<type>/<identifier>``. A value is a flat ``dict[str, str]``
(``{"password": ...}``, ``{"private_key": ...}``). Two backends implement the contract and
pass the same contract tests (``tests/functional/test_creds_backends.py``):

* ``database`` (:mod:`ocelot.secrets.database`, the default): Fernet tokens in the
  ``secret_values`` table, key from ``OCELOT_SECRET_KEY``;
* ``vault`` (:mod:`ocelot.secrets.vault`, when ``VAULT_ADDR`` is set): HashiCorp Vault's KV
  version 2 engine through hvac, token from ``VAULT_TOKEN`` or ``VAULT_TOKEN_FILE``.

Lifecycle
    :func:`ocelot.secrets.open_backend` returns a backend bound to the caller's SQL session,
    for the length of that session. The database backend writes in that session, so a
    credential's metadata and its value commit (or roll back) together; Vault is not
    transactional, so services write the value *before* they flush the metadata (a failed
    flush leaves an orphan value that the next ``write`` of the path replaces) and delete
    the value *after* the metadata (a failed delete leaves nothing that can be read through
    Ocelot). ``check`` is called once by every process at start-up
    (:func:`ocelot.secrets.check_secret_store`).

Concurrency
    A backend object is used by one thread (it holds a session). Vault clients are cached
    per process and shared by threads; re-authentication replaces the token under a lock.
    Two writers of the same path: the last write wins on both backends.

Errors
    ``read`` of a path that holds nothing raises :class:`~ocelot.errors.NotFound`; ``delete``
    of such a path does nothing. A missing or wrong key, or a token Vault rejects, raises
    :class:`~ocelot.errors.SecretError`; Vault unreachable raises
    :class:`~ocelot.errors.DependencyUnavailable`. Messages name paths and settings, never a
    secret value, and never chain an exception whose text could hold one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

SecretValues = dict[str, str]


class SecretBackend(Protocol):
    """Stores flat string maps under paths. See the module docstring for the contract."""

    name: str

    def read(self, path: str) -> SecretValues:
        """The values at ``path``; :class:`~ocelot.errors.NotFound` if there are none."""
        ...

    def write(self, path: str, values: Mapping[str, str]) -> None:
        """Store ``values`` at ``path``, replacing whatever was there."""
        ...

    def delete(self, path: str) -> None:
        """Remove ``path`` and every version of it. Idempotent."""
        ...

    def exists(self, path: str) -> bool:
        """Whether ``path`` holds values (without returning them)."""
        ...

    def check(self) -> None:
        """Raise :class:`~ocelot.errors.SecretError` unless the store can be used as
        configured (key present and right; Vault token accepted)."""
        ...
