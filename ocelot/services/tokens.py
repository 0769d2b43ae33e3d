"""API tokens: minted once, stored as a SHA-256 digest, checked in constant time.

Tokens are 32 random bytes, so a plain digest (no salt, no slow KDF) is enough: there is
nothing to brute-force, and the lookup by digest stays a single indexed query.

Every token has a role; each role can do what the ones before it can:

* ``read``  — see repositories, builds, logs, polls and deliveries; never credentials;
* ``build`` — also queue, kill, rebuild, approve and decline builds;
* ``admin`` — everything: repositories, webhooks, polls, discovery, credentials, tokens.

A token may expire (``expires_at``) and may be revoked; either way it is refused with 401.
Names are unique among live tokens (neither revoked nor expired), so ``revoke NAME`` is never
ambiguous. Which role a request needs is decided in ``web/auth.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ocelot.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from ocelot.models import ApiToken, utcnow
from ocelot.models.base import iso

PREFIX = "oct_"
PREFIX_LEN = 8  # what ApiToken.prefix keeps: "oct_" and four characters of the secret

READ, BUILD, ADMIN = "read", "build", "admin"
ROLES = (READ, BUILD, ADMIN)  # least to most
_RANK = {role: rank for rank, role in enumerate(ROLES)}

NAME_MAX = 200
_DURATION = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_role(role: str) -> str:
    """``role`` normalised, or InvalidRequest naming the roles there are."""
    text = str(role or "").strip().lower()
    if text not in _RANK:
        raise InvalidRequest(f"unknown role {role!r}; roles are {', '.join(ROLES)}", roles=ROLES)
    return text


def role_allows(have: str, needed: str) -> bool:
    """Whether a token of role ``have`` may do what needs ``needed`` (unknown roles: no)."""
    return have in _RANK and _RANK[have] >= _RANK[needed]


def parse_expiry(text: str | None, now: datetime | None = None) -> datetime | None:
    """``30d``, ``12h``, ``2w`` (from now), ``2026-12-31`` (00:00 UTC that day) or an ISO 8601
    time (UTC unless it names a zone) → an aware UTC datetime; empty or ``never`` → None."""
    now = now or utcnow()
    raw = (text or "").strip()
    if not raw or raw.lower() == "never":
        return None
    match = _DURATION.match(raw)
    if match:
        amount = int(match.group(1))
        if amount <= 0:
            raise InvalidRequest(f"expiry {raw!r} must be in the future")
        return now + amount * _UNITS[match.group(2).lower()]
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"cannot read expiry {raw!r}: give a duration (30d, 12h, 2w), "
            "a date (2026-12-31) or an ISO 8601 time"
        ) from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when <= now:
        raise InvalidRequest(f"expiry {raw!r} is not in the future")
    return when


def state(row: ApiToken, now: datetime | None = None) -> str:
    """``live``, ``expired`` or ``revoked``."""
    if row.revoked:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= (now or utcnow()):
        return "expired"
    return "live"


def _live(now: datetime) -> Any:
    return (ApiToken.revoked.is_(False)) & or_(
        ApiToken.expires_at.is_(None), ApiToken.expires_at > now
    )


def _check_name(name: str) -> str:
    text = (name or "").strip()
    if not text:
        raise InvalidRequest("a token needs a name")
    if len(text) > NAME_MAX:
        raise InvalidRequest(f"a token name has at most {NAME_MAX} characters")
    # Names must not read as the other ways of naming a token in `revoke`.
    if text.isdigit():
        raise InvalidRequest(f"token name {text!r} would read as a token id; add a letter")
    if text.startswith(PREFIX):
        raise InvalidRequest(f"token names may not start with {PREFIX!r} (that is a token)")
    return text


def issue_token(
    session: Session, name: str, role: str = ADMIN, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Mint a token; return its row and the plaintext (the only time the plaintext exists)."""
    name = _check_name(name)
    role = check_role(role)
    now = utcnow()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= now:
            raise InvalidRequest("a token's expiry must be in the future")
    taken = session.scalar(select(ApiToken.id).where(ApiToken.name == name, _live(now)))
    if taken is not None:
        raise Conflict(
            f"a live token is already named {name!r} (id {taken}); pick another name "
            "or revoke that one first",
            token_id=taken,
        )
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=digest(token),
        prefix=token[:PREFIX_LEN],
        role=role,
        expires_at=expires_at,
        revoked=False,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, token


def create_token(
    session: Session, name: str, role: str = ADMIN, expires_at: datetime | None = None
) -> str:
    """Mint a token named ``name``; return the plaintext (the only time it exists)."""
    return issue_token(session, name, role, expires_at)[1]


def authenticate(session: Session, token: str | None, *, touch: bool = True) -> ApiToken:
    """Return the live token row for ``token`` or raise Unauthorized.

    ``touch`` records the use in ``last_used_at`` (health probes pass False: no write).
    """
    if not token:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    wanted = digest(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == wanted))
    # The indexed lookup already matched; compare again in constant time so a timing
    # difference cannot leak how much of a digest matched.
    if row is None or row.revoked or not hmac.compare_digest(row.token_hash, wanted):
        raise Unauthorized("invalid or revoked token")
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("token expired")
    if touch:
        row.last_used_at = now
    return row


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, revoked and expired ones included, oldest first."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def get_token(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token with id {token_id}")
    return row


def find_tokens(session: Session, ref: str | int) -> list[ApiToken]:
    """The tokens ``ref`` names: an id, the token itself or its prefix (``oct_Ab12``), or a
    name (the unrevoked tokens of that name). NotFound when nothing matches."""
    if isinstance(ref, int):
        return [get_token(session, ref)]
    text = ref.strip()
    if text.isdigit():
        row = session.get(ApiToken, int(text))
        if row is not None:
            return [row]
    elif text.startswith(PREFIX) and len(text) >= PREFIX_LEN:
        exact = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(text)))
        if exact is not None:
            return [exact]
        rows = list(
            session.scalars(
                select(ApiToken)
                .where(ApiToken.prefix == text[:PREFIX_LEN], ApiToken.revoked.is_(False))
                .order_by(ApiToken.id)
            )
        )
        if len(text) == PREFIX_LEN and rows:
            if len(rows) > 1:
                ids = ", ".join(str(r.id) for r in rows)
                raise Conflict(f"prefix {text} matches tokens {ids}; revoke by id", token_ids=ids)
            return rows
    rows = list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.name == text, ApiToken.revoked.is_(False))
            .order_by(ApiToken.id)
        )
    )
    if not rows:
        raise NotFound(f"no unrevoked token is named, numbered or prefixed {text!r}")
    return rows


def revoke(session: Session, rows: list[ApiToken]) -> list[ApiToken]:
    """Revoke ``rows``; Conflict when every one of them is revoked already."""
    fresh = [r for r in rows if not r.revoked]
    if not fresh:
        ids = ", ".join(str(r.id) for r in rows)
        raise Conflict(f"token {ids} is already revoked")
    now = utcnow()
    for row in fresh:
        row.revoked = True
        row.revoked_at = now
    session.flush()
    return fresh


def revoke_token(session: Session, ref: str | int) -> list[ApiToken]:
    """Revoke what ``ref`` names (see :func:`find_tokens`); return the rows revoked."""
    return revoke(session, find_tokens(session, ref))


def token_dict(row: ApiToken, now: datetime | None = None) -> dict[str, Any]:
    """What the API and CLI show of a token: never its digest."""
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "role": row.role,
        "state": state(row, now),
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
        "expires_at": iso(row.expires_at),
        "revoked_at": iso(row.revoked_at),
    }
