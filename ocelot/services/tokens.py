"""API tokens: minted once, stored as a SHA-256 digest, checked in constant time.

Tokens are 32 random bytes, so a plain digest (no salt, no slow KDF) is enough: there is
nothing to brute-force, and the lookup by digest stays a single indexed query.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocelot.errors import InvalidRequest, Unauthorized
from ocelot.models import ApiToken, utcnow

PREFIX = "oct_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str) -> str:
    """Mint a token named ``name``; return the plaintext (the only time it exists)."""
    if not name or not name.strip():
        raise InvalidRequest("a token needs a name")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name.strip(), token_hash=digest(token), prefix=token[:8]))
    session.flush()
    return token


def authenticate(session: Session, token: str | None) -> ApiToken:
    """Return the live token row for ``token`` or raise Unauthorized."""
    if not token:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    wanted = digest(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == wanted))
    # The indexed lookup already matched; compare again in constant time so a timing
    # difference cannot leak how much of a digest matched.
    if row is None or row.revoked or not hmac.compare_digest(row.token_hash, wanted):
        raise Unauthorized("invalid or revoked token")
    row.last_used_at = utcnow()
    return row
