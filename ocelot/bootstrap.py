"""``python -m ocelot.bootstrap``: what ``make run`` does before starting the processes.

Migrates the database, makes sure there is an API token for the local admin, writes the CLI
config (``~/.config/ocelot/config.yml``, mode 600) when there is none, and prints the URL and
token. The token is kept in ``$OCELOT_HOME/admin-token`` (mode 600) so a restart prints the
same one; the database only ever holds its digest.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from ocelot.db import make_engine, migrate, session_scope
from ocelot.errors import Unauthorized
from ocelot.services.tokens import authenticate, create_token
from ocelot.settings import load_settings


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def main() -> int:
    settings = load_settings()
    migrate(settings)
    engine = make_engine(settings)
    token_file = settings.home / "admin-token"
    token = token_file.read_text().strip() if token_file.exists() else ""
    with session_scope(engine) as session:
        try:
            authenticate(session, token)
        except Unauthorized:
            token = create_token(session, "local-admin")
            _write_private(token_file, token + "\n")
    url = (
        os.environ.get("OCELOT_URL") or f"http://{os.environ.get('OCELOT_BIND', '127.0.0.1:5000')}"
    )
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "ocelot"
    config_file = config / "config.yml"
    if not config_file.exists():
        _write_private(config_file, yaml.safe_dump({"url": url, "token": token}))
        wrote = f"(written to {config_file})"
    else:
        wrote = f"({config_file} exists; set token: there, or export OCELOT_TOKEN)"
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
