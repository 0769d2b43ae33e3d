"""Reading ocelot.yml text into plain data while remembering where every value came from.

:func:`parse` composes the YAML node graph with PyYAML's ``SafeLoader`` and builds the Python
data itself, so that every key path (``("stages", 1, "script")``) maps to the 1-based line it
was written on. It also defines :class:`Issue`, the one shape in which every stage of checking
(YAML, schema, semantics) reports a problem.

Choices made here, and why:

* Mapping keys are kept as their source text. YAML 1.1 reads a plain ``on`` as ``True``, and
  ``notify.slack.on`` is a key of the format.
* Plain scalars that YAML reads as numbers, booleans or dates keep their source text in
  :attr:`Document.raw`, so the linter can read them as strings where the format wants a
  string — as the original Go implementation (yaml.v2 into string fields) did: ``- 1.0`` in
  ``branches`` is the branch ``1.0`` and ``- true`` in a script is the shell command ``true``.
* Duplicate keys are a warning (the last one wins, as in PyYAML and yaml.v2).
* Recursive aliases, alias bombs, deep nesting, unknown tags and values PyYAML cannot construct
  become a :class:`~ocelot.errors.ConfigError` carrying one :class:`Issue` with a line; nothing
  else escapes :func:`parse`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ocelot.errors import ConfigError

FILENAME = "ocelot.yml"
MAX_NODES = 50_000
MAX_DEPTH = 64

Path = tuple[str | int, ...]
Severity = Literal["error", "warning"]

_MAP_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:set"}
_SEQ_TAGS = {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap", "tag:yaml.org,2002:pairs"}
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NON_STRING_SCALARS = (bool, int, float, datetime.date)


def format_path(path: Path) -> str:
    """``("stages", 1, "script")`` → ``"stages[1].script"``; the root is ``""``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class Issue:
    """One problem in an ocelot.yml: where (key path and 1-based line) and what."""

    path: str
    line: int | None
    message: str
    severity: Severity = "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "severity": self.severity,
        }

    def sort_key(self) -> tuple[int, str, str]:
        return (self.line or 0, self.path, self.message)

    def __str__(self) -> str:
        return self.located(FILENAME)

    def located(self, file: str) -> str:
        """``file:12: warning: path: message``, e.g. for a pipeline in ``.ocelot/``."""
        parts = [file if self.line is None else f"{file}:{self.line}"]
        if self.severity == "warning":
            parts.append("warning")
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


@dataclass
class Document:
    """Parsed ocelot.yml: the data, the line of every key path, and parse-time warnings."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    raw: dict[Path, str] = field(default_factory=dict)
    warnings: list[Issue] = field(default_factory=list)

    def line_of(self, path: Path) -> int | None:
        """Line of ``path``, or of its nearest ancestor that was written in the file."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


class _Unreadable(Exception):
    """Raised inside the builder; becomes a ConfigError with a single Issue."""

    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.line = node.start_mark.line + 1
        self.message = message


def _fail(line: int | None, message: str) -> ConfigError:
    return ConfigError(f"{FILENAME} is not valid YAML", issues=[Issue("", line, message)])


def _yaml_error(exc: yaml.YAMLError, text: str) -> ConfigError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        detail = "; ".join(str(p) for p in (exc.context, exc.problem) if p) or str(exc)
        return _fail(mark.line + 1 if mark else None, f"invalid YAML: {detail}")
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1 if isinstance(text, str) else None
        return _fail(line, f"invalid YAML: {exc.reason} ({_char(exc.character)})")
    return _fail(None, f"invalid YAML: {exc}")


def _char(character: int | str) -> str:
    code = character if isinstance(character, int) else ord(character[:1] or "\0")
    return f"character U+{code:04X}"


def parse(text: str) -> Document:
    """Parse ocelot.yml text. An empty document gives ``Document(data=None)``.

    Raises :class:`ConfigError` (with one Issue) when the text is not readable YAML.
    """
    try:
        loader = yaml.SafeLoader(text)  # the reader rejects unprintable characters right here
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None)
        builder = _Builder(loader)
        data = builder.build(node, (), 0)
        return Document(data, builder.lines, builder.raw, builder.warnings)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text) from None
    except _Unreadable as exc:
        raise _fail(exc.line, exc.message) from None
    except RecursionError:
        raise _fail(None, "invalid YAML: the document is nested too deeply") from None
    finally:
        loader.dispose()


class _Builder:
    """Turns composed YAML nodes into dicts, lists and scalars, recording lines as it goes."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.lines: dict[Path, int] = {}
        self.raw: dict[Path, str] = {}
        self.warnings: list[Issue] = []
        self._count = 0
        self._ancestors: set[int] = set()
        self._flattened: set[int] = set()

    def build(self, node: Node, path: Path, depth: int) -> Any:
        self._count += 1
        if self._count > MAX_NODES:
            raise _Unreadable(node, "the document is too large (too many values or aliases)")
        if depth > MAX_DEPTH:
            raise _Unreadable(node, f"the document is nested more than {MAX_DEPTH} levels deep")
        if id(node) in self._ancestors:
            raise _Unreadable(node, "an alias refers to a value that contains it (recursion)")
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        self._ancestors.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path, depth)
            if isinstance(node, SequenceNode):
                return self._sequence(node, path, depth)
            raise _Unreadable(node, f"unsupported YAML node {type(node).__name__}")
        finally:
            self._ancestors.discard(id(node))

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError):
            raise _Unreadable(node, f"cannot read {node.value!r} as {node.tag}") from None
        if isinstance(value, _NON_STRING_SCALARS):
            self.raw[path] = node.value
        return value

    def _mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        if node.tag not in _MAP_TAGS:
            raise _Unreadable(node, f"unsupported YAML tag {node.tag}")
        if id(node) not in self._flattened:
            self._flattened.add(id(node))
            self._warn_duplicates(node, path)
            self.loader.flatten_mapping(node)  # resolves `<<` merge keys, explicit keys win
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _Unreadable(key_node, "mapping keys must be plain text")
            key = str(key_node.value)
            child = (*path, key)
            self.lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child, depth + 1)
        return result

    def _sequence(self, node: SequenceNode, path: Path, depth: int) -> list[Any]:
        if node.tag not in _SEQ_TAGS:
            raise _Unreadable(node, f"unsupported YAML tag {node.tag}")
        result: list[Any] = []
        for index, item in enumerate(node.value):
            child = (*path, index)
            self.lines[child] = item.start_mark.line + 1
            result.append(self.build(item, child, depth + 1))
        return result

    def _warn_duplicates(self, node: MappingNode, path: Path) -> None:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = str(key_node.value)
            if key in seen:
                self.warnings.append(
                    Issue(
                        format_path((*path, key)),
                        key_node.start_mark.line + 1,
                        f"duplicate key {key!r}; the last one is used",
                        "warning",
                    )
                )
            seen.add(key)
