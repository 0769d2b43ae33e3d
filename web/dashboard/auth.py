"""Dashboard sign-in: an API token, checked once, then a Flask session (a signed cookie).

The cookie holds the token's id, name and role and a *fingerprint* of its stored digest
(an HMAC keyed with the session key), never the token itself. Every request re-reads the
token row by id: a revoked or expired token, or a row that is not the one signed in with
(another database, a token id reused), signs the session out with a message.

The session key (Flask's ``SECRET_KEY``) is derived from ``OCELOT_SECRET_KEY`` when it is set,
else kept in ``$OCELOT_HOME/session-key`` (mode 600), made once: sessions survive a restart
and are the same in every gunicorn worker.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, session
from sqlalchemy.orm import Session

from ocelot.db import session_scope
from ocelot.errors import Unauthorized
from ocelot.models import ApiToken, utcnow
from ocelot.services.tokens import authenticate, role_allows
from ocelot.settings import Settings
from web.extensions import services

SESSION_KEY_FILE = "session-key"
_LABEL = b"ocelot dashboard session key v1"
_FIELDS = ("token_id", "token_name", "token_role", "token_fp")


def session_secret(settings: Settings) -> bytes:
    """The key that signs session cookies (see the module docstring)."""
    if settings.secret_key:
        return hmac.new(settings.secret_key.encode(), _LABEL, hashlib.sha256).digest()
    return _key_file(settings.home / SESSION_KEY_FILE)


def _key_file(path: Path) -> bytes:
    """The key in ``path``, made (0600) by whichever process comes first."""
    try:
        text = path.read_text().strip()
        if text:
            return bytes.fromhex(text)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    try:
        os.link(temp, path)  # atomic; fails when another process linked its key first
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return bytes.fromhex(path.read_text().strip())


def _fingerprint(row: ApiToken) -> str:
    key = current_app.secret_key
    raw = key if isinstance(key, bytes) else str(key).encode()
    return hmac.new(raw, row.token_hash.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class User:
    """Who is signed in: the token's id, name and role."""

    token_id: int
    name: str
    role: str

    def may(self, role: str) -> bool:
        return role_allows(self.role, role)


def sign_in(token: str) -> User:
    """Check ``token`` and start a session for it; Unauthorized with the reason."""
    with session_scope(services().engine) as db:
        row = authenticate(db, token.strip() or None)
        user = User(row.id, row.name, row.role)
        fingerprint = _fingerprint(row)
    session.clear()  # a fresh session (and CSRF token) for a new sign-in
    session.permanent = True
    session.update(
        token_id=user.token_id,
        token_name=user.name,
        token_role=user.role,
        token_fp=fingerprint,
    )
    return user


def sign_out() -> None:
    session.clear()


def _check(db: Session, token_id: int, fingerprint: str) -> ApiToken:
    row = db.get(ApiToken, token_id)
    if row is None or not hmac.compare_digest(_fingerprint(row), fingerprint):
        raise Unauthorized("your token is no longer known; sign in again")
    if row.revoked:
        raise Unauthorized("your token was revoked; sign in with another one")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise Unauthorized("your token expired; sign in with another one")
    return row


def current_user() -> User | None:
    """The signed-in user, re-checked against the token row; None when signed out.
    A session whose token is no longer live is cleared and raises Unauthorized."""
    if not all(field in session for field in _FIELDS):
        return None
    try:
        token_id = int(session["token_id"])
        fingerprint = str(session["token_fp"])
    except (TypeError, ValueError):
        session.clear()
        return None
    try:
        with session_scope(services().engine) as db:
            row = _check(db, token_id, fingerprint)
            user = User(row.id, row.name, row.role)
    except Unauthorized:
        session.clear()
        raise
    session["token_role"] = user.role
    return user
