"""HashiCorp Vault as the secret backend (hvac, KV version 2), used when ``VAULT_ADDR`` is set.

Values live at ``<OCELOT_VAULT_MOUNT>/data/<OCELOT_VAULT_PREFIX>/<acct>/<type>/<identifier>``
(defaults: mount ``secret``, prefix ``ocelot``). Ocelot needs a token whose policy allows
``create``, ``read``, ``update`` on ``<mount>/data/<prefix>/*`` and ``read``, ``delete`` on
``<mount>/metadata/<prefix>/*``.

Token and re-authentication
    The token comes from ``VAULT_TOKEN_FILE`` when set (re-read whenever Vault rejects the
    current token: a Vault Agent sink or a sidecar that rotates the file is picked up without
    a restart), else from ``VAULT_TOKEN``. A renewable token is renewed when less than
    :data:`RENEW_BELOW_SECONDS` of its TTL is left (checked at most once a minute). When Vault
    answers 401/403, the client re-reads the token and retries once; if Vault still refuses,
    :class:`~ocelot.errors.SecretError` says the token expired or lacks the policy.

One hvac client per process and configuration is shared by threads; token changes happen
under a lock. Vault unreachable or sealed raises :class:`~ocelot.errors.DependencyUnavailable`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import hvac
import requests
from hvac import exceptions as hvac_errors

from ocelot.errors import DependencyUnavailable, NotFound, SecretError
from ocelot.secrets.base import SecretValues
from ocelot.settings import Settings

T = TypeVar("T")
RENEW_BELOW_SECONDS = 600
RENEW_CHECK_EVERY = 60.0
TIMEOUT = 10

_clients: dict[tuple[int, str, str | None, str | None], _VaultClient] = {}
_clients_lock = threading.Lock()


class _VaultClient:
    """An hvac client plus where its token comes from; re-authenticates on demand."""

    def __init__(self, settings: Settings) -> None:
        assert settings.vault_addr
        self.addr = settings.vault_addr.rstrip("/")
        self._env_token = settings.vault_token
        self._token_file = settings.vault_token_file
        self._lock = threading.Lock()
        self._next_renew_check = 0.0
        self.hvac = hvac.Client(url=self.addr, token=self._current_token(), timeout=TIMEOUT)

    def _current_token(self) -> str | None:
        if self._token_file:
            try:
                return Path(self._token_file).read_text().strip() or None
            except OSError as exc:
                raise SecretError(
                    f"cannot read the Vault token file VAULT_TOKEN_FILE={self._token_file}: "
                    f"{exc.strerror}"
                ) from None
        return self._env_token

    def _no_token(self) -> SecretError:
        return SecretError(
            f"no Vault token: set VAULT_TOKEN or VAULT_TOKEN_FILE (VAULT_ADDR={self.addr})"
        )

    def call(self, doing: str, fn: Callable[[hvac.Client], T]) -> T:
        """Run ``fn(client)``; on 401/403 re-read the token and retry once."""
        if not self.hvac.token:
            with self._lock:
                self.hvac.token = self._current_token()
            if not self.hvac.token:
                raise self._no_token()
        self._maybe_renew()
        try:
            return self._guard(doing, fn)
        except (hvac_errors.Forbidden, hvac_errors.Unauthorized):
            pass
        with self._lock:
            self.hvac.token = self._current_token()
        if not self.hvac.token:
            raise self._no_token()
        try:
            return self._guard(doing, fn)
        except (hvac_errors.Forbidden, hvac_errors.Unauthorized):
            source = f"VAULT_TOKEN_FILE={self._token_file}" if self._token_file else "VAULT_TOKEN"
            raise SecretError(
                f"Vault at {self.addr} refused the token from {source} when trying to {doing}: "
                "the token expired, was revoked, or its policy does not allow this path"
            ) from None

    def _guard(self, doing: str, fn: Callable[[hvac.Client], T]) -> T:
        try:
            return fn(self.hvac)
        except (hvac_errors.Forbidden, hvac_errors.Unauthorized, hvac_errors.InvalidPath):
            raise
        except hvac_errors.VaultDown:
            raise DependencyUnavailable(f"Vault at {self.addr} is sealed or down") from None
        except hvac_errors.VaultError as exc:
            # Vault's error texts name paths and policies, never request bodies.
            raise SecretError(f"Vault could not {doing}: {exc}") from None
        except requests.RequestException as exc:
            raise DependencyUnavailable(
                f"Vault at {self.addr} unreachable ({type(exc).__name__})"
            ) from None

    def _maybe_renew(self) -> None:
        now = time.monotonic()
        if now < self._next_renew_check:
            return
        self._next_renew_check = now + RENEW_CHECK_EVERY
        try:
            info = self._guard("look up its token", lambda c: c.auth.token.lookup_self())
        except (hvac_errors.Forbidden, hvac_errors.Unauthorized):
            return  # call() re-authenticates
        data = info.get("data") or {}
        ttl = int(data.get("ttl") or 0)
        if data.get("renewable") and 0 < ttl < RENEW_BELOW_SECONDS:
            try:
                self._guard("renew its token", lambda c: c.auth.token.renew_self())
            except (hvac_errors.Forbidden, hvac_errors.Unauthorized, SecretError):
                pass  # still valid for now; the next refusal re-reads the token


def _client(settings: Settings) -> _VaultClient:
    # Per process too: a forked worker must not share the parent's connection pool.
    key = (os.getpid(), settings.vault_addr or "", settings.vault_token_file, settings.vault_token)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _VaultClient(settings)
        return client


def reset_clients() -> None:
    """Forget cached clients (after a fork, and in tests)."""
    with _clients_lock:
        _clients.clear()


class VaultBackend:
    """Secret values in Vault's KV v2 engine. See the module docstring."""

    name = "vault"

    def __init__(self, settings: Settings) -> None:
        if not settings.vault_addr:
            raise SecretError("the Vault backend needs VAULT_ADDR")
        self.client = _client(settings)
        self.mount = settings.vault_mount
        self.prefix = settings.vault_prefix

    def _path(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def read(self, path: str) -> SecretValues:
        def fn(c: hvac.Client) -> Any:
            return c.secrets.kv.v2.read_secret_version(
                path=self._path(path), mount_point=self.mount, raise_on_deleted_version=True
            )

        try:
            response = self.client.call(f"read {path}", fn)
        except hvac_errors.InvalidPath:
            raise NotFound(f"no secret stored at {path}") from None
        values = ((response or {}).get("data") or {}).get("data") or {}
        return {str(k): str(v) for k, v in values.items()}

    def write(self, path: str, values: Mapping[str, str]) -> None:
        def fn(c: hvac.Client) -> Any:
            return c.secrets.kv.v2.create_or_update_secret(
                path=self._path(path), secret=dict(values), mount_point=self.mount
            )

        self._call(f"write {path}", fn)

    def delete(self, path: str) -> None:
        def fn(c: hvac.Client) -> Any:
            return c.secrets.kv.v2.delete_metadata_and_all_versions(
                path=self._path(path), mount_point=self.mount
            )

        try:
            self._call(f"delete {path}", fn)
        except NotFound:
            pass

    def exists(self, path: str) -> bool:
        def fn(c: hvac.Client) -> Any:
            return c.secrets.kv.v2.read_secret_metadata(
                path=self._path(path), mount_point=self.mount
            )

        try:
            self._call(f"look up {path}", fn)
        except NotFound:
            return False
        return True

    def check(self) -> None:
        self._call("look up its token", lambda c: c.auth.token.lookup_self())

    def _call(self, doing: str, fn: Callable[[hvac.Client], T]) -> T:
        try:
            return self.client.call(doing, fn)
        except hvac_errors.InvalidPath:
            raise NotFound(f"Vault has nothing at {self.mount}: {doing}") from None
