"""Talking to a repository's forge: the API client with its token, and watch / unwatch.

Tokens come from the credentials store, ``get_secret(session, settings, acct, "vcs", forge)``
(``ocelot creds vcs add``: one token per account and forge). They are handed to the forge
client (and, for HTTPS clones, to git through ``GIT_ASKPASS``), never put in a URL, a log
line or an error message.

``watch`` sets the repository's webhook secret (generated unless given) and, unless
``install=False``, installs the webhook at the forge pointing at
``$OCELOT_PUBLIC_URL/hooks/<forge>``. Before it installs anything it reads ``ocelot.yml`` on
the repository's default branch through the forge API and refuses a repository without one
(its pushes would only make failing builds). With ``install=False`` nothing is asked of the
forge: the secret is returned so an admin can configure the hook by hand. ``unwatch``
removes the installed hook and the secret.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ocelot.errors import ForgeError, InvalidRequest, NotFound
from ocelot.forges import WEBHOOK_FORGES, Forge, api_url, get_forge
from ocelot.models import Repo, utcnow
from ocelot.pipeline.parser import FILENAME as CONFIG_FILE
from ocelot.services.hooks import (
    forget_webhook_secret,
    hook_row,
    set_webhook_secret,
    webhook_secret,
)
from ocelot.services.repos import get_repo
from ocelot.settings import Settings


def forge_token(session: Session, settings: Settings, acct: str, forge: str) -> str:
    """The vcs token of ``acct`` on ``forge``: the vcs credential named after the forge, else
    the first whose ``forge`` field names it; NotFound saying what to do when there is none."""
    from ocelot.services import credentials

    missing = NotFound(
        f"no {forge} token for {acct}: add one with"
        f" `ocelot creds vcs add {acct} {forge} --forge {forge}` (a vcs credential with a token)"
    )
    identifier = forge
    try:
        credentials.get_credential(session, acct, "vcs", forge)
    except NotFound:
        rows = credentials.list_credentials(session, acct, "vcs")
        named = [r.identifier for r in rows if (r.fields or {}).get("forge") == forge]
        if not named:
            raise missing from None
        identifier = named[0]
    token = credentials.get_secret(session, settings, acct, "vcs", identifier).get("token")
    if not token:
        raise missing
    return str(token)


def api_forge(
    session: Session, settings: Settings, repo: Repo, *, need_token: bool = True
) -> Forge:
    """The forge client for ``repo`` with its account's token."""
    token = None
    if repo.vcs_type in WEBHOOK_FORGES:
        try:
            token = forge_token(session, settings, repo.acct, repo.vcs_type)
        except NotFound:
            if need_token:
                raise
    return get_forge(repo.vcs_type, api_url(settings, repo.vcs_type) or None, token)


def hook_url(settings: Settings, forge: str) -> str:
    return f"{settings.public_url}/hooks/{forge}"


def require_config(client: Forge, full_name: str, branch: str | None = None) -> str:
    """The branch (default: the repository's default branch) where ``full_name`` has an
    ``ocelot.yml``; InvalidRequest saying what to do when it has none."""
    if not branch:
        try:
            branch = client.default_branch(full_name)
        except ForgeError as exc:
            if exc.details.get("status") not in (403, 404):
                raise
            raise NotFound(
                f"{full_name} is not on {client.name}, or its token cannot see it ({exc.message})"
            ) from None
    if not branch:
        raise InvalidRequest(
            f"{full_name} is empty (no default branch): push a commit with an {CONFIG_FILE} first"
        )
    if client.fetch_file(full_name, branch, CONFIG_FILE) is None:
        raise InvalidRequest(
            f"{full_name} has no {CONFIG_FILE} on its default branch {branch}: add one first"
        )
    return branch


def watch(
    session: Session,
    settings: Settings,
    full_name: str,
    *,
    install: bool = True,
    secret: str | None = None,
    forge: Forge | None = None,
    branch: str | None = None,
) -> dict[str, Any]:
    """Give ``full_name`` a webhook secret and (by default) install its webhook, once the
    forge shows an ``ocelot.yml`` on ``branch`` (default: the default branch). ``forge``
    replaces the client built from settings and the account's token (discovery has one)."""
    repo = get_repo(session, full_name)
    if repo.vcs_type not in WEBHOOK_FORGES:
        raise InvalidRequest(
            f"{full_name} is a plain git repository (vcs_type {repo.vcs_type}): it sends no"
            " webhooks; poll it instead (`ocelot poll ACCT/REPO --cron ...`)"
        )
    client = None
    if install:  # every forge question before the first write
        client = forge or api_forge(session, settings, repo)
        require_config(client, full_name, branch)
    value = secret or webhook_secret(session, settings, repo)
    value = set_webhook_secret(session, settings, full_name, value)
    row = hook_row(session, repo)
    assert row is not None
    url = hook_url(settings, repo.vcs_type)
    result: dict[str, Any] = {"repo": full_name, "forge": repo.vcs_type, "hook_url": url}
    if client is not None:
        if row.forge_hook_id:
            client.remove_hook(full_name, row.forge_hook_id)  # replaced, never duplicated
        row.forge_hook_id = client.install_hook(full_name, url, value)
        row.installed_at = utcnow()
        result.update(installed=True, hook_id=row.forge_hook_id)
    else:
        result.update(installed=False, secret=value)
    return result


def unwatch(session: Session, settings: Settings, full_name: str) -> dict[str, Any]:
    """Remove the installed webhook (if Ocelot installed one) and forget the secret."""
    repo = get_repo(session, full_name)
    row = hook_row(session, repo)
    removed = None
    if row is not None:
        if row.forge_hook_id:
            api_forge(session, settings, repo).remove_hook(full_name, row.forge_hook_id)
            removed = row.forge_hook_id
        session.delete(row)
    forget_webhook_secret(session, settings, repo)
    return {"repo": full_name, "removed_hook_id": removed}
