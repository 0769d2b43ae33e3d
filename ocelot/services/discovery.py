"""Discovery: find an account's repositories that contain an ``ocelot.yml`` and track them.

:func:`discover` lists the repositories of an account (a GitHub user or organisation, a
GitLab group or user, a Bitbucket workspace) through the forge API with the account's vcs
token (``ocelot creds vcs add``), reads ``ocelot.yml`` on each default branch, and with
``track=True`` adds the untracked repositories that have one (``vcs_type`` = the forge).

A tracked repository must also be told when to build, so each one it adds gets either

* a **webhook** (the watch service, with the same token), when ``OCELOT_PUBLIC_URL`` is an
  address the forge can reach; or
* a **poll** of its default branch every 5 minutes (:data:`POLL_CRON`), when it is not
  (a loopback address) or when the forge refuses the hook (a token without the right to
  install one, a forge error): the row's ``reason`` says why.

Each row says which (``setup``: ``webhook`` | ``poll``).

Listing and reading happen before the first database write, so a forge outage there changes
nothing. A 404 for the file means "no ocelot.yml"; another 4xx on one repository (no access,
disabled repository) is reported on that row; a 5xx or connection error fails the whole call
with a :class:`ForgeError` (502) whose message names the account, never the token. Installing
a hook is the only forge call after a write, and its failure falls back to a poll.

``OCELOT_DISCOVER`` (``github:acme,gitlab:group1``) lists the accounts Celery beat
re-discovers with ``track=True`` every ``OCELOT_DISCOVER_INTERVAL`` seconds
(``worker/tasks/discovery.py``).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ocelot.errors import Conflict, ForgeError, InvalidRequest, NotFound
from ocelot.forges import WEBHOOK_FORGES, Forge, api_url, get_forge
from ocelot.models import Repo
from ocelot.pipeline.parser import FILENAME as CONFIG_FILE
from ocelot.services.polls import set_poll
from ocelot.services.repos import add_repo
from ocelot.services.watch import forge_token, watch
from ocelot.settings import Settings

log = logging.getLogger(__name__)

POLL_CRON = "*/5 * * * *"  # how often a discovered repository without a webhook is polled
WEBHOOK, POLL = "webhook", "poll"


def parse_targets(value: str) -> list[tuple[str, str]]:
    """``"github:acme, gitlab:group1"`` → ``[("github", "acme"), ("gitlab", "group1")]``.

    InvalidRequest names the first entry that is not ``FORGE:ACCT`` with a known forge.
    """
    out: list[tuple[str, str]] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        forge, sep, acct = entry.partition(":")
        forge, acct = forge.strip().lower(), acct.strip()
        if not sep or not acct or forge not in WEBHOOK_FORGES:
            raise InvalidRequest(
                f"OCELOT_DISCOVER entries are FORGE:ACCT with FORGE one of"
                f" {', '.join(WEBHOOK_FORGES)}, got {entry!r}"
            )
        out.append((forge, acct))
    return out


def _check_forge(forge: str) -> None:
    if forge not in WEBHOOK_FORGES:
        raise InvalidRequest(
            f"forge must be one of {', '.join(WEBHOOK_FORGES)}, got {forge!r}"
            " (plain git has no accounts to discover)"
        )


def _context(exc: ForgeError, what: str) -> ForgeError:
    """The same error with ``what`` in front; the forge message already hides the token."""
    return ForgeError(f"{what}: {exc.message}", **exc.details)


def _has_config(client: Forge, full_name: str, branch: str) -> tuple[bool, str | None]:
    """Whether ``branch`` of ``full_name`` has ocelot.yml, and a reason when unknown."""
    if not branch:
        return False, "empty repository (no default branch)"
    try:
        return client.fetch_file(full_name, branch, CONFIG_FILE) is not None, None
    except ForgeError as exc:
        if exc.details.get("retryable"):
            raise _context(exc, f"reading {CONFIG_FILE} of {full_name}") from None
        return False, f"could not read {CONFIG_FILE}: HTTP {exc.details.get('status', '?')}"


def unreachable_reason(settings: Settings) -> str | None:
    """Why a forge could not deliver webhooks to ``OCELOT_PUBLIC_URL`` (None: it may)."""
    host = (urlsplit(settings.public_url).hostname or "").lower()
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host in ("", "localhost") or host.endswith(".localhost")
    if local:
        return f"OCELOT_PUBLIC_URL ({settings.public_url}) is not reachable from the forge"
    return None


def _track(
    session: Session, full_name: str, url: str, forge: str, group: str | None
) -> tuple[str, str | None]:
    """Add one repository in its own savepoint: ``(tracked, reason)``."""
    try:
        with session.begin_nested():
            add_repo(session, full_name, url, forge, group)
    except (Conflict, IntegrityError):  # tracked meanwhile (a concurrent discovery)
        return "already", None
    except InvalidRequest as exc:  # e.g. a nested GitLab path, no HTTPS clone URL
        return "no", exc.message
    return "new", None


def _set_up(
    session: Session,
    settings: Settings,
    client: Forge,
    full_name: str,
    branch: str,
    no_hook: str | None,
) -> tuple[str, str | None]:
    """Make a newly tracked repository build: its webhook, else a poll of ``branch``.
    ``(setup, reason)``; ``no_hook`` says why a webhook is out of the question."""
    if no_hook is None:
        try:
            with session.begin_nested():
                watch(session, settings, full_name, forge=client, branch=branch)
            return WEBHOOK, None
        except (ForgeError, InvalidRequest, NotFound) as exc:
            log.warning("no webhook for %s: %s; polling it", full_name, exc.message)
            no_hook = f"the webhook could not be installed ({exc.message})"
    with session.begin_nested():
        set_poll(session, full_name, POLL_CRON, [branch])
    return POLL, f"{no_hook}: polling {branch} every 5 minutes"


def discover(
    session: Session,
    settings: Settings,
    acct: str,
    forge: str,
    *,
    track: bool,
    group: str | None = None,
    client: Forge | None = None,
) -> list[dict[str, Any]]:
    """One row per repository of ``acct`` on ``forge``, sorted by name:
    ``{full_name, has_ocelot_yml, tracked: "new"|"already"|"no"}``, plus ``setup``
    (``webhook`` | ``poll``) for a newly tracked one and ``reason`` when a repository could
    not be checked or tracked, or is polled instead of hooked. ``client`` replaces the forge
    client built from settings and the credentials store (tests)."""
    _check_forge(forge)
    if not acct or not acct.strip():
        raise InvalidRequest("acct is required (the account, group or workspace to search)")
    acct = acct.strip()
    if client is None:
        token = forge_token(session, settings, acct, forge)
        client = get_forge(forge, api_url(settings, forge) or None, token)
    try:
        listed = client.list_repos(acct)
    except ForgeError as exc:
        raise _context(exc, f"listing the {forge} repositories of {acct} failed") from None

    checked: list[tuple[dict[str, str], bool, str | None]] = []
    for row in sorted(listed, key=lambda r: r["full_name"]):
        found, reason = _has_config(client, row["full_name"], row.get("default_branch", ""))
        checked.append((row, found, reason))

    names = [row["full_name"] for row, _, _ in checked]
    known = set(session.scalars(select(Repo.full_name).where(Repo.full_name.in_(names))))
    no_hook = unreachable_reason(settings)
    out: list[dict[str, Any]] = []
    for row, found, reason in checked:
        name = row["full_name"]
        tracked = "already" if name in known else "no"
        setup = None
        if tracked == "no" and found and track:
            tracked, reason = _track(session, name, row.get("clone_url", ""), forge, group)
            if tracked == "new":
                setup, reason = _set_up(
                    session, settings, client, name, row["default_branch"], no_hook
                )
        item: dict[str, Any] = {"full_name": name, "has_ocelot_yml": found, "tracked": tracked}
        if setup:
            item["setup"] = setup
        if reason:
            item["reason"] = reason
        out.append(item)
    return out
