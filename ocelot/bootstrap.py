"""``python -m ocelot.bootstrap``: what ``make run`` does before starting the processes.

Migrates the database, makes sure the local admin has an API token, and prints the URL and
the token. The token's plaintext is kept in one place only: ``token:`` of the CLI config
(``$OCELOT_CONFIG``, else ``$XDG_CONFIG_HOME/ocelot/config.yml``, else
``~/.config/ocelot/config.yml``; mode 600), where the ``ocelot`` command reads it. The
database holds its digest, and ``$OCELOT_HOME`` (data, logs, the secret key) holds no token.

On a restart the config's token is reused when it still authenticates; otherwise a new
``local-admin`` token (role admin) is minted, any older live ``local-admin`` token is revoked
(its plaintext is lost with the config), and the config's ``token:`` is replaced, every other
key kept. A ``$OCELOT_HOME/admin-token`` left by an older Ocelot is moved into the config and
deleted.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from ocelot.cli.config import config_path
from ocelot.db import make_engine, migrate, session_scope
from ocelot.errors import NotFound, OcelotError, Unauthorized
from ocelot.services.tokens import ADMIN, authenticate, create_token, revoke_token
from ocelot.settings import load_settings

TOKEN_NAME = "local-admin"
LEGACY_TOKEN_FILE = "admin-token"


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically; the file is mode 600 from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_config(path: Path) -> dict[str, Any]:
    """The CLI config as a mapping ({} when missing), read as the CLI reads it."""
    from ocelot.cli.config import read_file

    return read_file(path)


def _works(session: Session, token: Any) -> bool:
    if not isinstance(token, str) or not token.strip():
        return False
    try:
        authenticate(session, token.strip(), touch=False)
    except Unauthorized:
        return False
    return True


def ensure_token(session: Session, candidates: list[Any]) -> tuple[str, bool]:
    """The first candidate that authenticates, else a freshly minted admin token.

    Returns ``(token, minted)``. Minting revokes older live ``local-admin`` tokens first.
    """
    for candidate in candidates:
        if _works(session, candidate):
            return str(candidate).strip(), False
    try:
        revoke_token(session, TOKEN_NAME)
    except NotFound:
        pass
    return create_token(session, TOKEN_NAME, role=ADMIN), True


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    settings = load_settings(env)
    migrate(settings)
    engine = make_engine(settings)
    config_file = config_path(env)
    legacy = settings.home / LEGACY_TOKEN_FILE
    try:
        config = read_config(config_file)
    except OcelotError as exc:
        print(f"ocelot bootstrap: {exc.message}", file=sys.stderr)
        return 1
    legacy_token = legacy.read_text(encoding="utf-8").strip() if legacy.exists() else None
    url = env.get("OCELOT_URL") or f"http://{env.get('OCELOT_BIND', '127.0.0.1:5000')}"
    with session_scope(engine) as session:
        token, minted = ensure_token(session, [config.get("token"), legacy_token])
    # Written after the commit: a config never holds a token the database does not know.
    updated = {"url": url, **config, "token": token}  # the user's url and keys win
    if updated != config or not config_file.exists():
        write_private(config_file, yaml.safe_dump(updated, sort_keys=False))
        wrote = f"(new, saved in {config_file})" if minted else f"(saved in {config_file})"
    else:
        os.chmod(config_file, 0o600)
        wrote = f"(from {config_file})"
    if legacy.exists():
        legacy.unlink()  # the config holds a working token now; no plaintext in OCELOT_HOME
    print(
        f"\n  Ocelot is starting.\n"
        f"  Dashboard / API:  {url}\n"
        f"  API token:        {token}  {wrote}\n"
        f"  Try:              ocelot repos list\n",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
