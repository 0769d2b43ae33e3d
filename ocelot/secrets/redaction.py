"""Log redaction: mask every secret value injected into a build, line by line.

Build output is redacted one line at a time before it is stored or published
(:class:`ocelot.logstream.LogWriter` calls the redactor on each line). So a multi-line secret
(an ssh key, a JSON service account) is masked line by line: each of its lines of at least
:data:`MIN_LENGTH` characters is a value of its own. Shorter values are not masked: masking
``1`` or ``on`` would hide half the log and tell a reader the secret anyway.

Longer values are replaced first, so a secret that contains another one is masked whole.

Output is not always cut at line ends: a line still unterminated after a while is stored as
it is so far (progress bars). So that a secret printed in pieces across such a flush is
still masked, :meth:`SecretRedactor.tail_to_hold` tells how much of the end of unfinished
text might be the start of a secret; the writer stores the rest and keeps that tail for later.
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


class SecretRedactor:
    """Replaces every secret fragment in a line with ``*****`` (a :data:`Redactor`)."""

    def __init__(self, fragments: list[str]) -> None:
        self.fragments = fragments
        self._pattern = re.compile("|".join(re.escape(f) for f in fragments)) if fragments else None

    def __call__(self, line: str) -> str:
        return self._pattern.sub(MASK, line) if self._pattern is not None else line

    def tail_to_hold(self, text: str) -> int:
        """How many characters at the end of ``text`` (output whose line is not finished) must
        wait for what follows before they can be redacted: ``self(text[:-n])`` is then safe to
        store, and equals what redacting the whole line would have given for that part.

        That tail is the longest suffix of ``text`` that is a proper prefix of a fragment (a
        secret may be being printed), widened to the start of a secret it would split.
        """
        if self._pattern is None or not text:
            return 0
        cut = len(text)
        for fragment in self.fragments:
            longest = min(len(fragment) - 1, len(text))
            for size in range(longest, len(text) - cut, -1):  # only suffixes longer than held
                if text.endswith(fragment[:size]):
                    cut = len(text) - size
                    break
        for match in self._pattern.finditer(text):
            if match.start() < cut < match.end():
                cut = match.start()
                break
        return len(text) - cut


def make_redactor(values: Iterable[str | None]) -> SecretRedactor:
    """A :data:`Redactor` that replaces every secret fragment in a line with ``*****``."""
    return SecretRedactor(secret_fragments(values))


def redactor_for(session: Session, settings: Settings, acct: str) -> Redactor:
    """The redactor of every secret of ``acct`` (used for logs in notifications)."""
    from ocelot.services.credentials import account_secret_values

    return make_redactor(account_secret_values(session, settings, acct))
