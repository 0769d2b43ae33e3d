"""Log redaction: mask every secret value injected into a build, line by line.

Build output is redacted one line at a time before it is stored or published
(:class:`ocelot.logstream.LogWriter` calls the redactor on each line). So a multi-line secret
(an ssh key, a JSON service account) is masked line by line: each of its lines of at least
:data:`MIN_LENGTH` characters is a value of its own. Shorter values are not masked: masking
``1`` or ``on`` would hide half the log and tell a reader the secret anyway.

Longer values are replaced first, so a secret that contains another one is masked whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from ocelot.models.credential import MASK
from ocelot.settings import Settings

MIN_LENGTH = 4

Redactor = Callable[[str], str]


def secret_fragments(values: Iterable[str | None]) -> list[str]:
    """The strings to mask for ``values``: each value and each line of a multi-line value,
    those of at least :data:`MIN_LENGTH` characters, longest first, without duplicates."""
    found: set[str] = set()
    for value in values:
        if not value:
            continue
        # Logs are redacted a line at a time, so a multi-line value is masked line by line.
        for piece in value.splitlines() or [value]:
            for candidate in (piece, piece.strip()):
                if len(candidate) >= MIN_LENGTH:
                    found.add(candidate)
    return sorted(found, key=lambda s: (-len(s), s))


def make_redactor(values: Iterable[str | None]) -> Redactor:
    """A function that replaces every secret fragment in a line with ``*****``."""
    fragments = secret_fragments(values)
    if not fragments:
        return _identity
    pattern = re.compile("|".join(re.escape(f) for f in fragments))

    def redact(line: str) -> str:
        return pattern.sub(MASK, line)

    return redact


def _identity(line: str) -> str:
    return line


def redactor_for(session: Session, settings: Settings, acct: str) -> Redactor:
    """The redactor of every secret of ``acct`` (used for logs in notifications)."""
    from ocelot.services.credentials import account_secret_values

    return make_redactor(account_secret_values(session, settings, acct))
