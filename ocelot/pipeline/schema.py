"""The JSON Schema of ocelot.yml, and turning its validation errors into :class:`Issue` s.

The schema (draft 2020-12) lives in ``ocelot.schema.json`` next to this module, so editors and
other tools can use the same file. It is strict (unknown keys are ``additionalProperties:
false``) and the linter demotes unknown keys to warnings, so old files keep working.

Schema nodes may carry ``x-messages`` (validator keyword → message template) and ``x-path`` (a
key appended to the reported path); validators ignore them, :func:`schema_issues` uses them to
give the messages of the original Go Ocelot that users grep for. Templates may use ``{stage}``
(the stage's name), ``{value}`` and ``{got}``.

Also here: the two small value grammars the schema refers to, durations
(:func:`parse_duration`) and working directories (:func:`normalise_workdir`).
"""

from __future__ import annotations

import copy
import datetime
import difflib
import functools
import json
import posixpath
import re
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from ocelot.errors import ConfigError
from ocelot.pipeline.parser import Issue, Path, format_path

SCHEMA_FILE = "ocelot.schema.json"

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_TYPE_NAMES = {
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


@functools.cache
def schema_text() -> str:
    """The packaged schema file, verbatim."""
    return resources.files("ocelot.pipeline").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@functools.cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


def get_schema() -> dict[str, Any]:
    """The schema as a dict (a copy: callers may change it)."""
    return copy.deepcopy(_schema())


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(_schema())


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` ("#/$defs/name"), merging the referring node's own keywords."""
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return node
    target = _resolve(_schema()["$defs"][ref.removeprefix("#/$defs/")])
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


# -- reading YAML 1.1 scalars as strings where the format wants a string ---------------------


def _shapes(node: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(node)
    alternatives = [*node.get("anyOf", []), *node.get("oneOf", [])]
    return [node, *(_resolve(alt) for alt in alternatives)]


def _wants_string(shapes: list[dict[str, Any]]) -> bool:
    types: set[str] = set()
    for shape in shapes:
        kind = shape.get("type")
        types.update([kind] if isinstance(kind, str) else kind or ())
        if "enum" in shape and all(isinstance(v, str) for v in shape["enum"]):
            types.add("string")
    return "string" in types and not types & {"number", "integer", "boolean"}


def coerce_strings(data: Any, raw: dict[Path, str]) -> Any:
    """Replace numbers, booleans and dates by their source text where the schema wants a
    string, as yaml.v2 did for the original's string fields (``- 1.0`` is branch "1.0")."""
    return _coerce(data, _schema(), (), raw)


def _coerce(value: Any, node: dict[str, Any], path: Path, raw: dict[Path, str]) -> Any:
    shapes = _shapes(node)
    if isinstance(value, dict):
        props: dict[str, Any] = next((s["properties"] for s in shapes if "properties" in s), {})
        extra: dict[str, Any] | None = next(
            (
                s["additionalProperties"]
                for s in shapes
                if isinstance(s.get("additionalProperties"), dict)
            ),
            None,
        )  # a mapping of free keys (build_args): its values follow additionalProperties
        return {
            k: _coerce(v, props.get(k, extra or {}), (*path, k), raw)
            if k in props or extra is not None
            else v
            for k, v in value.items()
        }
    if isinstance(value, list):
        items = next((s["items"] for s in shapes if isinstance(s.get("items"), dict)), None)
        if items is None:
            return value
        return [_coerce(v, items, (*path, i), raw) for i, v in enumerate(value)]
    if path in raw and _wants_string(shapes):
        return raw[path]
    return value


# -- validation errors → issues ---------------------------------------------------------------


def _got(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, datetime.date):
        return f"date {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"string {value!r}"
    return type(value).__name__


def _stage_label(data: Any, path: Path) -> str:
    if len(path) >= 2 and path[0] == "stages" and isinstance(path[1], int):
        stages = data.get("stages") if isinstance(data, dict) else None
        if isinstance(stages, list) and path[1] < len(stages):
            stage = stages[path[1]]
            name = stage.get("name") if isinstance(stage, dict) else None
            if isinstance(name, str) and name:
                return name
        return f"#{path[1] + 1}"
    return ""


def _default_message(error: ValidationError) -> str:
    kind, value = error.validator, error.instance
    rule: Any = error.validator_value  # jsonschema types it "Any | Unset"; set for every error
    if kind == "type":
        wanted = [rule] if isinstance(rule, str) else [t for t in rule if t != "null"]
        message = (
            f"expected {' or '.join(_TYPE_NAMES.get(t, t) for t in wanted)}, got {_got(value)}"
        )
        if "string" in wanted and isinstance(value, dict):
            message += " (quote the value if it contains ': ')"
        return message
    if kind in ("minItems", "minLength"):
        return "must not be empty"
    if kind == "minimum":
        return f"must be at least {rule}, got {_got(value)}"
    if kind == "enum":
        return f"{value!r} is not one of {', '.join(map(str, rule))}"
    if kind == "pattern":
        return f"{value!r} does not match {rule}"
    return str(error.message)


def _template(node: dict[str, Any], kind: str) -> str | None:
    messages = node.get("x-messages")
    found = messages.get(kind) if isinstance(messages, dict) else None
    return found if isinstance(found, str) else None


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    if isinstance(value, int | float | datetime.date):
        return str(value)
    return _got(value)


def _fill(template: str, data: Any, path: Path, value: Any) -> str:
    return template.format(stage=_stage_label(data, path), value=_show(value), got=_got(value))


def _issues_for(
    error: ValidationError, data: Any, line_of: Callable[[Path], int | None]
) -> Iterator[Issue]:
    path: Path = tuple(error.absolute_path)
    node = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        props = node.get("properties", {})
        required: Any = error.validator_value
        for name in required:
            if name not in instance:
                where = (*path, name)
                template = _template(_resolve(props.get(name, {})), "required")
                message = _fill(template, data, where, None) if template else f"{name} is required"
                yield Issue(format_path(where), line_of(where), message)
        return
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = sorted(node.get("properties", {}))
        patterns = list(node.get("patternProperties", {}))
        for key in instance:
            if key in known or any(re.search(p, key) for p in patterns):
                continue
            where = (*path, key)
            hint = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
            message = f"unknown key {key!r} is ignored" + (
                f" (did you mean {hint[0]!r}?)" if hint else ""
            )
            yield Issue(format_path(where), line_of(where), message, "warning")
        return
    template = _template(node, str(error.validator))
    if template is None and error.validator == "type" and instance is None:
        template = _template(node, "required")  # `key:` with no value reads as missing
    if isinstance(node.get("x-path"), str):
        path = (*path, node["x-path"])
    message = _fill(template, data, path, instance) if template else _default_message(error)
    yield Issue(format_path(path), line_of(path), message)


def schema_issues(data: Any, line_of: Callable[[Path], int | None]) -> list[Issue]:
    """Every schema violation of ``data``, as issues (unknown keys as warnings)."""
    issues: list[Issue] = []
    for error in _validator().iter_errors(data):
        issues.extend(_issues_for(error, data, line_of))
    return issues


# -- value grammars ---------------------------------------------------------------------------


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``"90s"``, ``"10m"``, ``"1h30m"``, ``"600"`` or a number of seconds.

    Raises :class:`ConfigError` for anything else, including zero and negative durations.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{value!r} is not a duration")
    if isinstance(value, str):
        text = value.strip()
        match = _DURATION.fullmatch(text)
        if text.isdigit():
            seconds = float(int(text))
        elif text and match:
            hours, minutes, secs = (int(g or 0) for g in match.groups())
            seconds = float(hours * 3600 + minutes * 60 + secs)
        else:
            raise ConfigError(
                f"{value!r} is not a duration; use e.g. 90s, 10m, 1h30m or a number of seconds"
            )
    else:
        seconds = float(value)
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"duration {value!r} must be greater than zero")
    return seconds


def normalise_workdir(value: str) -> str | None:
    """``value`` as a normalised path relative to the checkout ("." for the checkout itself),
    or None when it is absolute or leads out of the checkout with ``..``."""
    if not value or "\0" in value:
        return None if value else "."
    if posixpath.isabs(value):
        return None
    normal = posixpath.normpath(value)
    if normal == ".." or normal.startswith("../"):
        return None
    return normal
