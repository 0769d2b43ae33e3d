"""Redaction: the one place that masks secret values, in build logs, notices and errors.

* :data:`MASK` — what a secret reads as everywhere (logs, API responses, error messages).
* :data:`Redactor` — a ``str -> str`` that masks; :func:`identity` masks nothing,
  :func:`mask_all` everything (the safe answer when the secrets cannot be read).
* :func:`make_redactor` — the redactor of a set of secret values; :func:`scrub` applies one
  to a single text (transports' error messages).
* :func:`redactor_for` — the redactor of values read on demand, failing closed (the log lines
  in a notice: every secret of the build's account).

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

This module imports only the standard library: models, services, the CLI and the git runner
all use it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

MASK = "*****"
MIN_LENGTH = 4
FEW = 16  # up to this many fragments, a text is searched for each before the regex runs

Redactor = Callable[[str], str]


def identity(text: str) -> str:
    """The redactor that masks nothing (text already redacted, or nothing secret in it)."""
    return text


def mask_all(text: str) -> str:
    """The redactor that masks everything: used when the secrets to mask cannot be read."""
    return MASK


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
        if self._pattern is None:
            return line
        # a few values: plain substring searches (fast, in C) before the regex (slower), which
        # runs only when one of them is there: logs are mostly free of secrets
        if len(self.fragments) <= FEW and not any(f in line for f in self.fragments):
            return line
        return self._pattern.sub(MASK, line)

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


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret of ``secrets`` masked (an error message, a notice)."""
    return make_redactor(secrets)(text)


def redactor_for(values: Callable[[], Iterable[str | None]]) -> Redactor:
    """The redactor of the secret ``values`` (e.g. every secret of an account, for the log
    lines in a notice: ``redactor_for(lambda: account_secret_values(session, settings,
    acct))``). When they cannot be read, :func:`mask_all`: better no log lines than a leaked
    value. (The reading is the caller's: this module stays below the services.)"""
    try:
        return make_redactor(values())
    except Exception as exc:  # noqa: BLE001 - any failure: mask everything rather than leak
        log.warning("secrets unreadable (%s): masking every line", type(exc).__name__)
        return mask_all
