"""HTTPS fetches of forge repositories get the account's token through GIT_ASKPASS: not in
the URL, not on the command line, and gone from disk afterwards."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from ocelot.db import session_scope
from ocelot.runner import RunContext
from ocelot.runner.clone_auth import clone_credentials
from ocelot.services.credentials import add_credential
from ocelot.services.repos import add_repo
from ocelot.settings import Settings


def test_https_token_goes_through_askpass(engine: Engine, settings: Settings) -> None:
    settings = settings.with_(secret_key=Fernet.generate_key().decode())
    with session_scope(engine) as session:
        repo = add_repo(session, "acme/app", "https://github.com/acme/app.git", "github")
        add_credential(session, settings, "acme", "vcs", "github", {"token": "ghp_s3cr3t_value"})
        public = add_repo(session, "acme/open", "https://example.com/open.git", "git")
        repo_id, public_id = repo.id, public.id
    ctx = RunContext(settings=settings, engine=engine)
    with clone_credentials(ctx, repo_id) as env:
        helper = Path(env["GIT_ASKPASS"])
        assert helper.stat().st_mode & 0o777 == 0o700
        assert "ghp_s3cr3t_value" not in helper.read_text()  # only in this process's env
        ask = {"PATH": "/usr/bin:/bin", **env}
        user = subprocess.run(
            [str(helper), "Username for 'https://github.com': "],
            env=ask,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        password = subprocess.run(
            [str(helper), "Password for 'https://x@github.com': "],
            env=ask,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert (user, password) == ("x-access-token\n", "ghp_s3cr3t_value\n")
    assert not helper.exists() and not helper.parent.exists()
    with clone_credentials(ctx, public_id) as env:
        assert env == {}  # no forge, no token: nothing to hand to git
