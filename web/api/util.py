"""Small helpers shared by the API views: JSON bodies and query arguments."""

from __future__ import annotations

from typing import Any

from flask import request

from ocelot.errors import InvalidRequest


def json_body() -> dict[str, Any]:
    if not request.data:
        return {}
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # `[` x 100000: not a body any client of ours sends
        raise InvalidRequest("the request body is not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return data


def int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number") from None


def bool_value(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() in {"1", "true", "yes"}
    return bool(value)
