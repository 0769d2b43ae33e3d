r"""The trigger grammar of ``stages[].triggers`` lines, and evaluating it on a changeset.

Grammar::

    line     := section (("and" | "or") section)*
    section  := ("\branch" | "\text" | "\filepath") values
    values   := value ("||" value)*        any value holds
              | value ("&&" value)*        every value holds

* ``\branch X`` — the build's branch matches the regular expression X, anchored at both ends
  (``fullmatch``).
* ``\text X`` — some commit message of the pushed changeset contains X.
* ``\filepath X`` — some changed file's path contains X.

Values are stripped of surrounding spaces. One section may not mix ``||`` and ``&&``.
The words ``and`` / ``or`` join sections only when surrounded by spaces and followed by a
section keyword, so ``\text bread and butter`` is one section with the value
"bread and butter".

**Precedence.** The whole line is evaluated, with ``and`` binding tighter than ``or``:
``A or B and C`` means ``A or (B and C)``. The original Go Ocelot silently dropped the left
part of a line that mixed the two words; Ocelot never drops part of a line.

**Unknown changesets.** When the changeset is not known (``Changeset.known`` is False, e.g. a
build started from the CLI or the API for a bare commit), every ``\text`` and ``\filepath``
section is false: there are no messages or paths to look at. ``\branch`` sections still work.

:func:`parse_trigger` raises :class:`~ocelot.errors.ConfigError` with a message naming the
problem; the linter reports it with the line's path and line number.

**Linear-time matching.** Branch patterns (``branches``, ``trigger.branches`` and ``\branch``)
come from the repository, and a worker runs them, so they are compiled by RE2 (``google-re2``),
whose matching time grows linearly with the branch name: ``(a+)+b`` cannot pin a worker the way
it pins a backtracking engine. The syntax is Python's minus what needs backtracking:
backreferences, lookahead/lookbehind, atomic groups, possessive quantifiers, conditionals and
``\Z`` (``\z`` is the same); ``\d`` and ``\w`` are ASCII. Such a pattern is refused by the
linter with its line (:func:`compile_branch_regex`), never matched.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import re2

from ocelot.errors import ConfigError

Kind = Literal["branch", "text", "filepath"]
KINDS: tuple[Kind, ...] = ("branch", "text", "filepath")
SKIP_MARKERS = ("[skip ci]", "[ci skip]")

_JOINER = re.compile(r"\s+(and|or)\s+(?=\\)")
_SECTION = re.compile(r"\\(\w*)(.*)", re.DOTALL)
_DANGLING = re.compile(r"(?:^|\s)(and|or)$")


# What RE2 refuses that a backtracking engine would take, by the start of RE2's message.
_UNSUPPORTED = (
    ("invalid escape sequence: \\Z", "\\Z is not supported (\\z is the same)"),
    ("invalid perl operator: (?P", "backreferences are not supported"),
    ("invalid perl operator: (?=", "lookahead is not supported"),
    ("invalid perl operator: (?!", "lookahead is not supported"),
    ("invalid perl operator: (?<=", "lookbehind is not supported"),
    ("invalid perl operator: (?<!", "lookbehind is not supported"),
    ("invalid perl operator: (?>", "atomic groups are not supported"),
    ("invalid perl operator: (?(", "conditional groups are not supported"),
    ("invalid perl operator: (?#", "(?#...) comments are not supported"),
    ("invalid perl operator: (?", "this inline flag is not supported (i, m, s and U are)"),
    ("invalid repetition size", "more than 1000 repeats (nested ones multiply) are not supported"),
    ("pattern too large", "the pattern is too large"),
)  # fmt: skip
_BACKREFERENCE = re.compile(r"invalid escape sequence: \\[1-9]")
_POSSESSIVE = re.compile(r"bad repetition operator: [*+?}]\+")
MAX_PATTERN_LENGTH = 1000


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.max_mem = 1 << 20  # a branch pattern needs far less than RE2's default 8 MiB
    return options


_OPTIONS = _re2_options()


def _python_error(pattern: str) -> str | None:
    """What Python's ``re`` says of ``pattern`` (compiled only, never matched), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FutureWarning "possible nested set", etc.
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError, ValueError) as exc:
            return str(exc)
    return None


def _refusal(pattern: str, error: str) -> str:
    """The message for a pattern RE2 refused with ``error``: a syntax error in any engine
    keeps Python's wording; a pattern only a backtracking engine runs says what it needs."""
    python = _python_error(pattern)
    if python is not None:
        return f'invalid regular expression "{pattern}": {python}'
    if _BACKREFERENCE.match(error):
        feature = "backreferences are not supported"
    elif _POSSESSIVE.match(error):
        feature = "possessive quantifiers are not supported"
    else:
        feature = next((why for start, why in _UNSUPPORTED if error.startswith(start)), error)
    return f"pattern {pattern!r} cannot be used: {feature} (Ocelot matches in linear time)"


@functools.lru_cache(maxsize=512)
def compile_branch_regex(pattern: str) -> Any:
    """Compile a branch pattern with RE2 (linear-time matching); raise ConfigError naming it
    when it is not a valid regex or needs a backtracking feature (see the module docstring).
    The result has ``fullmatch`` / ``search`` / ``match`` like a ``re.Pattern``."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ConfigError(
            f"pattern {pattern[:40]!r}... cannot be used: it is longer than "
            f"{MAX_PATTERN_LENGTH} characters"
        )
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        error = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise ConfigError(_refusal(pattern, error)) from None
    except (UnicodeError, TypeError, ValueError) as exc:
        raise ConfigError(f'invalid regular expression "{pattern}": {exc}') from None


def branch_matches(pattern: str, branch: str) -> bool:
    """Whether ``branch`` matches ``pattern`` anchored at both ends (invalid pattern: False)."""
    try:
        return compile_branch_regex(pattern).fullmatch(branch) is not None
    except ConfigError:
        return False


@dataclass(frozen=True)
class Changeset:
    """What a build is about: its branch and, when known, the pushed commits' messages and the
    changed paths. ``known=False`` (e.g. a CLI build) makes ``\\text`` / ``\\filepath`` false."""

    branch: str
    messages: Sequence[str] = ()
    files: Sequence[str] = ()
    known: bool = True

    def __post_init__(self) -> None:
        for name in ("messages", "files"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))

    @property
    def skip_requested(self) -> bool:
        """Some commit message asks not to build (``[skip ci]`` / ``[ci skip]``)."""
        return any(marker in m for m in self.messages for marker in SKIP_MARKERS)


@dataclass(frozen=True)
class Section:
    r"""One ``\kind value || value`` (or ``&&``) part of a trigger line."""

    kind: Kind
    values: tuple[str, ...]
    require_all: bool = False

    def _holds(self, value: str, ctx: Changeset) -> bool:
        if self.kind == "branch":
            return branch_matches(value, ctx.branch)
        if not ctx.known:
            return False
        haystack = ctx.messages if self.kind == "text" else ctx.files
        return any(value in item for item in haystack)

    def matches(self, ctx: Changeset) -> bool:
        results = (self._holds(value, ctx) for value in self.values)
        return all(results) if self.require_all else any(results)

    def __str__(self) -> str:
        return f"\\{self.kind} " + (" && " if self.require_all else " || ").join(self.values)


@dataclass(frozen=True)
class Trigger:
    """A parsed trigger line: ``alternatives`` are OR-ed, the sections inside each are AND-ed."""

    line: str
    alternatives: tuple[tuple[Section, ...], ...]

    def matches(self, ctx: Changeset) -> bool:
        return any(all(s.matches(ctx) for s in group) for group in self.alternatives)

    @property
    def needs_changeset(self) -> bool:
        r"""Whether some section looks at messages or paths (``\text`` / ``\filepath``)."""
        return any(s.kind != "branch" for group in self.alternatives for s in group)

    def __str__(self) -> str:
        return self.line


def _parse_section(source: str, line: str) -> Section:
    match = _SECTION.fullmatch(source)
    if match is None:
        raise ConfigError(f'invalid trigger "{line}": expected \\branch, \\text or \\filepath')
    keyword, rest = match.group(1), match.group(2)
    if keyword not in KINDS:
        raise ConfigError(
            f'invalid trigger "{line}": unknown section \\{keyword}; '
            "use \\branch, \\text or \\filepath"
        )
    kind: Kind = keyword  # narrowed by the membership test above
    if rest and not rest[0].isspace():
        raise ConfigError(f'invalid trigger "{line}": put a space after \\{kind}')
    if "||" in rest and "&&" in rest:
        raise ConfigError(
            f'invalid trigger "{line}": \\{kind} mixes || and && in one section; '
            "split it into sections joined by and / or"
        )
    require_all = "&&" in rest
    values = tuple(v.strip() for v in rest.split("&&" if require_all else "||"))
    if not any(values):
        raise ConfigError(f'invalid trigger "{line}": \\{kind} needs a value')
    if not all(values):
        raise ConfigError(f'invalid trigger "{line}": empty value in \\{kind} section')
    if kind == "branch":
        for value in values:
            if re.search(r"\s", value):
                raise ConfigError(
                    f'invalid trigger "{line}": branch pattern "{value}" contains a space; '
                    "join branch patterns with || and sections with and / or"
                )
            try:
                compile_branch_regex(value)
            except ConfigError as exc:
                raise ConfigError(f'invalid trigger "{line}": {exc.message}') from None
    return Section(kind, values, require_all)


def parse_trigger(line: str) -> Trigger:
    """Parse one trigger line; raise ConfigError saying what is wrong with it."""
    if not isinstance(line, str):
        raise ConfigError(f'invalid trigger "{line}": expected a line of text')
    text = line.strip()
    if not text:
        raise ConfigError("invalid trigger '': the line is empty")
    if not text.startswith("\\"):
        raise ConfigError(
            f'invalid trigger "{line}": a trigger starts with \\branch, \\text or \\filepath'
        )
    if _DANGLING.search(text):
        raise ConfigError(
            f'invalid trigger "{line}": it ends with {text.split()[-1]!r} but no section follows'
        )
    parts = _JOINER.split(text)
    alternatives: list[tuple[Section, ...]] = []
    group: list[Section] = [_parse_section(parts[0], line)]
    for word, source in zip(parts[1::2], parts[2::2], strict=True):
        section = _parse_section(source, line)
        if word == "or":
            alternatives.append(tuple(group))
            group = []
        group.append(section)
    alternatives.append(tuple(group))
    return Trigger(text, tuple(alternatives))
