"""Credentials for the worker's own git fetches: ssh keys and forge tokens, never in a URL.

For ``ssh://`` and ``user@host:path`` URLs the account's ``ssh`` credentials are written to a
private temporary directory (0700, keys 0600) and handed to git through
``GIT_SSH_COMMAND``; for ``https://`` URLs of a forge repository the account's ``vcs`` token
is given to git by a ``GIT_ASKPASS`` helper that reads it from the environment. The directory
is removed when the fetch is done, so nothing secret stays on the worker's disk, and the
token never appears in the stored URL, the command line or an error message.

**SSH host keys.** An ssh credential's ``known_hosts`` field (``ocelot creds ssh add ...
--known-hosts FILE``) is used as it is, strictly. Without one, the host's key is trusted on
first use and *pinned* (table ``ssh_host_keys``, per host and key type): the first fetch runs
with ``StrictHostKeyChecking=accept-new`` and stores what ssh learnt once the fetch succeeded;
every later fetch from that host gets the pinned keys and ``StrictHostKeyChecking=yes``. A
changed key then fails the fetch, and the ssh log (``-E``, in the temporary directory) turns
that into a clear reason naming the host and both fingerprints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ocelot.db import session_scope
from ocelot.errors import NotFound, SourceError
from ocelot.forges import token_user
from ocelot.models import HostKey, Repo
from ocelot.runner.context import RunContext

log = logging.getLogger(__name__)

_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${OCELOT_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\\n' "$OCELOT_GIT_TOKEN" ;;
esac
"""


def is_ssh_url(url: str) -> bool:
    if url.startswith("ssh://") or url.startswith("git+ssh://"):
        return True
    # scp-like: user@host:path (but not a local path or another scheme)
    head = url.split("/", 1)[0]
    return "://" not in url and "@" in head and ":" in head


def ssh_host(url: str) -> str | None:
    """The name ssh files ``url``'s host under in known_hosts: ``host`` for port 22,
    ``[host]:port`` otherwise (lower case, as ssh writes it); None when there is none."""
    if "://" in url:
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            return None
    else:  # scp-like user@host:path
        host, port = url.split(":", 1)[0].rsplit("@", 1)[-1], None
    if not host:
        return None
    host = host.lower()
    return host if port in (None, 22) else f"[{host}]:{port}"


def fingerprint(key: str) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a base64 public key blob."""
    try:
        blob = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return "SHA256:?"
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _known_hosts_entries(text: str) -> list[tuple[str, str, str]]:
    """``(host, key type, key)`` of each plain known_hosts line (markers, hashed names and
    comments are skipped: ssh writes none of them here)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and not line.startswith(("#", "@", "|")):
            found.append((fields[0], fields[1], fields[2]))
    return found


@dataclass(frozen=True)
class Pinned:
    """A pinned host key, read out of its session."""

    host: str
    key_type: str
    key: str
    first_seen_at: datetime

    def known_hosts_line(self) -> str:
        return f"{self.host} {self.key_type} {self.key}"


def pinned_keys(session: Session, host: str) -> list[Pinned]:
    rows = session.scalars(select(HostKey).where(HostKey.host == host).order_by(HostKey.id))
    return [Pinned(r.host, r.key_type, r.key, r.first_seen_at) for r in rows]


def _pin(ctx: RunContext, text: str) -> None:
    """Store the host keys ssh learnt on this (successful) fetch, keeping any pinned first."""
    for host, key_type, key in _known_hosts_entries(text):
        try:
            with session_scope(ctx.engine) as session:
                row = session.scalar(
                    select(HostKey).where(HostKey.host == host, HostKey.key_type == key_type)
                )
                if row is None:
                    session.add(HostKey(host=host, key_type=key_type, key=key))
                    log.info("pinned the %s host key of %s (%s)", key_type, host, fingerprint(key))
                elif row.key != key:  # only a concurrent first fetch can get here
                    log.warning("kept the pinned %s key of %s, not a new one", key_type, host)
        except IntegrityError:
            continue  # another worker pinned it a moment ago


_NEW_FINGERPRINT = re.compile(r"key sent by the remote host is\s+(SHA256:[A-Za-z0-9+/]+)")


def _host_key_failure(ssh_log: str, host: str, pinned: list[Pinned], credential: str) -> str | None:
    """A clear reason when ssh refused the host's key (None when it failed otherwise)."""
    if "Host key verification failed" not in ssh_log:
        return None
    remedy = (
        f"if that is expected, set the host's keys with `ocelot creds ssh add {credential} "
        "--key-file KEY --known-hosts FILE --yes`"
    )
    if not pinned:  # strict known_hosts from the credential
        detail = ssh_log.strip().splitlines()[-2:]
        return (
            f"the ssh host key of {host} is not the one in the credential's known_hosts "
            f"({' '.join(detail)}); {remedy}"
        )
    found = _NEW_FINGERPRINT.search(ssh_log)
    now = found.group(1) if found else "a key of another type"
    first = min(row.first_seen_at for row in pinned).strftime("%Y-%m-%d")
    was = ", ".join(fingerprint(row.key) for row in pinned)
    return (
        f"the ssh host key of {host} changed since it was first seen on {first} "
        f"(now {now}, pinned {was}); {remedy}, or delete the pinned key (table "
        f"ssh_host_keys, host '{host}') to trust the new one on the next fetch"
    )


def _ssh_error(ssh_log: str) -> str:
    lines = [line for line in ssh_log.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


@dataclass
class _Needs:
    """What a fetch of one repository needs: ssh keys and host keys, or a forge token."""

    url: str
    acct: str
    vcs_type: str
    host: str | None = None
    keys: list[tuple[str, str]] = field(default_factory=list)
    known_hosts: list[str] = field(default_factory=list)
    pinned: list[Pinned] = field(default_factory=list)
    token: str | None = None

    @property
    def trust_on_first_use(self) -> bool:
        return bool(self.keys) and not self.known_hosts and not self.pinned


def _needs(ctx: RunContext, repo_id: int) -> _Needs | None:
    from ocelot.services import credentials
    from ocelot.services.watch import forge_token

    with session_scope(ctx.engine) as session:
        repo = session.get(Repo, repo_id)
        if repo is None:
            return None
        needs = _Needs(repo.url, repo.acct, repo.vcs_type)
        if is_ssh_url(needs.url):
            needs.host = ssh_host(needs.url)
            rows = credentials.account_secrets(session, ctx.settings, needs.acct, "ssh")
            for row, secret in rows:
                if secret.get("private_key"):
                    needs.keys.append((row.identifier, secret["private_key"]))
                hosts = (row.fields or {}).get("known_hosts")
                if hosts:
                    needs.known_hosts.append(str(hosts))
            if not needs.known_hosts and needs.host:
                needs.pinned = pinned_keys(session, needs.host)
        elif needs.url.startswith("https://") and token_user(needs.vcs_type):
            try:
                needs.token = forge_token(session, ctx.settings, needs.acct, needs.vcs_type)
            except NotFound:
                needs.token = None  # a public repository needs none
    return needs


def _ssh_command(tmp: Path, needs: _Needs) -> str:
    """``GIT_SSH_COMMAND`` with the account's keys and the host keys to check against."""
    hosts_file = tmp / "known_hosts"
    lines = needs.known_hosts or [row.known_hosts_line() for row in needs.pinned]
    _write(hosts_file, "\n".join(lines), 0o600)
    options = [
        "ssh", "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        "-o", f"UserKnownHostsFile={hosts_file}",
        # Known or pinned keys: strict. None yet: trust on first use, pinned afterwards.
        "-o", "StrictHostKeyChecking=" + ("accept-new" if needs.trust_on_first_use else "yes"),
        "-E", str(tmp / "ssh.log"),  # ssh's messages, read when the fetch fails
    ]  # fmt: skip
    for identifier, key in needs.keys:
        key_file = tmp / f"id_{identifier}"
        _write(key_file, key, 0o600)
        options += ["-i", str(key_file)]
    return shlex.join(options)


def _ssh_failure(exc: SourceError, tmp: Path, needs: _Needs) -> str | None:
    """Why an ssh fetch failed, in words a person can act on (None: git's own message)."""
    ssh_log = tmp / "ssh.log"
    if not needs.keys or not ssh_log.exists():
        return None
    text = ssh_log.read_text(errors="replace")
    credential = f"{needs.acct} {needs.keys[0][0]}"
    reason = _host_key_failure(text, needs.host or "the host", needs.pinned, credential)
    if reason is None and _ssh_error(text):
        reason = f"{exc.message} (ssh: {_ssh_error(text)})"
    return reason


@contextmanager
def clone_credentials(ctx: RunContext, repo_id: int) -> Iterator[dict[str, str]]:
    """Extra environment for git commands on ``repo_id``'s URL (empty when none is needed)."""
    needs = _needs(ctx, repo_id)
    if needs is None or (not needs.keys and needs.token is None):
        yield {}
        return
    tmp = Path(tempfile.mkdtemp(prefix="ocelot-git-"))
    try:
        tmp.chmod(stat.S_IRWXU)
        env: dict[str, str] = {}
        if needs.keys:
            env["GIT_SSH_COMMAND"] = _ssh_command(tmp, needs)
        if needs.token is not None:
            helper = tmp / "askpass"
            _write(helper, _ASKPASS, 0o700)
            env.update(
                GIT_ASKPASS=str(helper),
                OCELOT_GIT_TOKEN=needs.token,
                # set: a token is only read then
                OCELOT_GIT_USERNAME=str(token_user(needs.vcs_type)),
            )
        try:
            yield env
        except SourceError as exc:
            reason = _ssh_failure(exc, tmp, needs)
            if reason is None:
                raise
            raise SourceError(reason) from None
        hosts_file = tmp / "known_hosts"
        if needs.trust_on_first_use and needs.host and hosts_file.exists():
            _pin(ctx, hosts_file.read_text(errors="replace"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
