"""Which token role each ``/api/v1`` request needs: one table, decided by URL rule and method.

Roles are ``read`` < ``build`` < ``admin`` (:mod:`ocelot.services.tokens`). The view modules
know nothing of roles: ``web/api/__init__.py`` authenticates every request and then calls
:func:`require_role` with the matched URL rule (``/api/v1/builds/<int:build_id>/kill``), so a
route added later gets a role without anyone remembering to add a decorator:

1. anything under ``/api/v1/creds`` or ``/api/v1/tokens`` → ``admin``, reads included
   (a ``read`` token must not even learn which credentials exist);
2. any other ``GET``/``HEAD``/``OPTIONS`` → ``read``;
3. the writes in :data:`BUILD_WRITES` (queue, kill, rebuild, approve, decline a build) → ``build``;
4. every other write → ``admin``: repositories, webhooks, polls, discovery, and whatever
   write a later change adds until it is listed here (fail closed).

Rules are compared with their parameters blanked (``<int:build_id>`` → ``<>``), so renaming a
parameter or its converter does not change the role.
"""

from __future__ import annotations

import re

from flask import request

from ocelot.errors import PermissionDenied
from ocelot.services.tokens import ADMIN, BUILD, READ, role_allows

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Route prefixes whose every method needs admin.
ADMIN_PREFIXES = ("/api/v1/creds", "/api/v1/tokens")

# The writes a `build` token may make, as (method, rule with parameters blanked).
BUILD_WRITES = frozenset(
    {
        ("POST", "/api/v1/repos/<>/<>/builds"),
        ("POST", "/api/v1/builds/<>/kill"),
        ("POST", "/api/v1/builds/<>/rebuild"),
        ("POST", "/api/v1/builds/<>/approve"),
        ("POST", "/api/v1/builds/<>/decline"),
    }
)

_PARAM = re.compile(r"<[^>]*>")


def shape(rule: str) -> str:
    """``/api/v1/builds/<int:build_id>/kill`` → ``/api/v1/builds/<>/kill``."""
    return _PARAM.sub("<>", rule)


def _under(rule: str, prefix: str) -> bool:
    return rule == prefix or rule.startswith(prefix + "/")


def required_role(method: str, rule: str) -> str:
    """The least role that may send ``method`` to the route ``rule``."""
    method = method.upper()
    if any(_under(rule, prefix) for prefix in ADMIN_PREFIXES):
        return ADMIN
    if method in READ_METHODS:
        return READ
    if (method, shape(rule)) in BUILD_WRITES:
        return BUILD
    return ADMIN


def require_role(role: str, method: str, rule: str) -> None:
    """PermissionDenied (403) naming the role needed when ``role`` is too small."""
    needed = required_role(method, rule)
    if not role_allows(role, needed):
        raise PermissionDenied(
            f"this needs a token with role {needed!r} (yours is {role!r})",
            required_role=needed,
            role=role,
        )


def bearer_token() -> str | None:
    """The token of the request's ``Authorization: Bearer <token>``, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
