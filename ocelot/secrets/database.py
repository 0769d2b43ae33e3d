"""The default secret backend: values encrypted with Fernet in the ``secret_values`` table.

The key comes from ``OCELOT_SECRET_KEY``. A Fernet key (urlsafe base64 of 32 bytes, as
``Fernet.generate_key()`` prints) is used as it is; any other string is a passphrase from
which a key is derived with PBKDF2-HMAC-SHA256 (600,000 iterations, once per process).

Each token encrypts ``{"path": ..., "values": {...}}``; reading checks the path, so a row
copied onto another credential's path in the database does not decrypt as that credential.
Fernet authenticates every token, so a wrong key is told apart from a damaged row only by
trying: :meth:`DatabaseBackend.check` decrypts the oldest row at start-up and refuses to go
on with a clear :class:`~ocelot.errors.SecretError` when it cannot.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ocelot.errors import NotFound, SecretError
from ocelot.models import SecretValue, utcnow
from ocelot.secrets.base import SecretValues

KDF_SALT = b"ocelot.secret-store.v1"
KDF_ITERATIONS = 600_000

NO_KEY = (
    "OCELOT_SECRET_KEY is not set, so stored credentials cannot be {what}. Set it to a long "
    "random string, e.g. the output of: python -c "
    '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)
WRONG_KEY = (
    "OCELOT_SECRET_KEY does not decrypt the stored credentials: it is not the key they were "
    "stored with (restore the old key, or delete the credentials and add them again)"
)


@lru_cache(maxsize=4)
def fernet_for(key: str) -> Fernet:
    """The Fernet of ``key``: a Fernet key as is, otherwise a key derived from it."""
    raw = key.strip()
    try:
        if len(base64.urlsafe_b64decode(raw.encode("ascii"))) == 32:
            return Fernet(raw.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        pass
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=KDF_SALT, iterations=KDF_ITERATIONS)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(raw.encode("utf-8"))))


class DatabaseBackend:
    """Fernet-encrypted values in the caller's session (commit with the metadata)."""

    name = "database"

    def __init__(self, session: Session, key: str | None) -> None:
        self.session = session
        self._key = key

    def _fernet(self, what: str) -> Fernet:
        if not self._key:
            raise SecretError(NO_KEY.format(what=what))
        return fernet_for(self._key)

    def _row(self, path: str) -> SecretValue | None:
        return self.session.scalar(select(SecretValue).where(SecretValue.path == path))

    def read(self, path: str) -> SecretValues:
        row = self._row(path)
        if row is None:
            raise NotFound(f"no secret stored at {path}")
        return self._decrypt(row)

    def _decrypt(self, row: SecretValue) -> SecretValues:
        try:
            plain = self._fernet("read").decrypt(row.ciphertext.encode("ascii"))
        except InvalidToken:
            raise SecretError(WRONG_KEY) from None
        data = json.loads(plain)
        if data.get("path") != row.path or not isinstance(data.get("values"), dict):
            raise SecretError(f"the stored secret at {row.path} belongs to another path")
        return {str(k): str(v) for k, v in data["values"].items()}

    def write(self, path: str, values: Mapping[str, str]) -> None:
        fernet = self._fernet("stored")
        self._check_key_matches(fernet)
        token = fernet.encrypt(json.dumps({"path": path, "values": dict(values)}).encode())
        row = self._row(path)
        if row is None:
            self.session.add(SecretValue(path=path, ciphertext=token.decode("ascii")))
        else:
            row.ciphertext, row.updated_at = token.decode("ascii"), utcnow()
        self.session.flush()

    def _check_key_matches(self, fernet: Fernet) -> None:
        """Refuse to add values under a key that differs from the existing ones' key."""
        oldest = self.session.scalar(select(SecretValue).order_by(SecretValue.id).limit(1))
        if oldest is not None:
            try:
                fernet.decrypt(oldest.ciphertext.encode("ascii"))
            except InvalidToken:
                raise SecretError(WRONG_KEY) from None

    def delete(self, path: str) -> None:
        self.session.execute(delete(SecretValue).where(SecretValue.path == path))

    def exists(self, path: str) -> bool:
        return self._row(path) is not None

    def check(self) -> None:
        count = self.session.scalar(select(func.count(SecretValue.id))) or 0
        if count == 0:
            return
        if not self._key:
            raise SecretError(
                f"{count} credential value(s) are stored encrypted in the database, but "
                + NO_KEY.format(what="read")
            )
        self._check_key_matches(fernet_for(self._key))
