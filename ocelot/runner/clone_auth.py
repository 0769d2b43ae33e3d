"""Credentials for the worker's own git fetches: ssh keys and forge tokens, never in a URL.

For ``ssh://`` and ``user@host:path`` URLs the account's ``ssh`` credentials are written to a
private temporary directory (0700, keys 0600) and handed to git through
``GIT_SSH_COMMAND``; for ``https://`` URLs of a forge repository the account's ``vcs`` token
is given to git by a ``GIT_ASKPASS`` helper that reads it from the environment. The directory
is removed when the fetch is done, so nothing secret stays on the worker's disk, and the
token never appears in the stored URL, the command line or an error message.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ocelot.db import session_scope
from ocelot.errors import NotFound
from ocelot.models import Repo
from ocelot.runner.context import RunContext

_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${OCELOT_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\\n' "$OCELOT_GIT_TOKEN" ;;
esac
"""
# The user name each forge accepts with a token as the password.
_TOKEN_USER = {"github": "x-access-token", "gitlab": "oauth2", "bitbucket": "x-token-auth"}


def is_ssh_url(url: str) -> bool:
    if url.startswith("ssh://") or url.startswith("git+ssh://"):
        return True
    # scp-like: user@host:path (but not a local path or another scheme)
    head = url.split("/", 1)[0]
    return "://" not in url and "@" in head and ":" in head


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


@contextmanager
def clone_credentials(ctx: RunContext, repo_id: int) -> Iterator[dict[str, str]]:
    """Extra environment for git commands on ``repo_id``'s URL (empty when none is needed)."""
    from ocelot.services import credentials
    from ocelot.services.watch import forge_token

    with session_scope(ctx.engine) as session:
        repo = session.get(Repo, repo_id)
        if repo is None:
            yield {}
            return
        url, acct, vcs_type = repo.url, repo.acct, repo.vcs_type
        keys: list[tuple[str, str]] = []
        known_hosts: list[str] = []
        token = None
        if is_ssh_url(url):
            for row, secret in credentials.account_secrets(session, ctx.settings, acct, "ssh"):
                if secret.get("private_key"):
                    keys.append((row.identifier, secret["private_key"]))
                hosts = (row.fields or {}).get("known_hosts")
                if hosts:
                    known_hosts.append(str(hosts))
        elif url.startswith("https://") and vcs_type in _TOKEN_USER:
            try:
                token = forge_token(session, ctx.settings, acct, vcs_type)
            except NotFound:
                token = None  # a public repository needs none
    if not keys and token is None:
        yield {}
        return
    tmp = Path(tempfile.mkdtemp(prefix="ocelot-git-"))
    try:
        tmp.chmod(stat.S_IRWXU)
        env: dict[str, str] = {}
        if keys:
            hosts_file = tmp / "known_hosts"
            _write(hosts_file, "\n".join(known_hosts), 0o600)
            options = [
                "ssh",
                "-F",
                "/dev/null",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                f"UserKnownHostsFile={hosts_file}",
                # With no known_hosts on file, trust the host on first use of this fetch only.
                "-o",
                "StrictHostKeyChecking=" + ("yes" if known_hosts else "accept-new"),
            ]
            for identifier, key in keys:
                key_file = tmp / f"id_{identifier}"
                _write(key_file, key, 0o600)
                options += ["-i", str(key_file)]
            env["GIT_SSH_COMMAND"] = shlex.join(options)
        if token is not None:
            helper = tmp / "askpass"
            _write(helper, _ASKPASS, 0o700)
            env.update(
                GIT_ASKPASS=str(helper),
                OCELOT_GIT_TOKEN=token,
                OCELOT_GIT_USERNAME=_TOKEN_USER[vcs_type],
            )
        yield env
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
