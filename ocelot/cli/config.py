"""Client configuration of the ``ocelot`` command.

Read from ``$OCELOT_CONFIG`` or ``$XDG_CONFIG_HOME/ocelot/config.yml`` (default
``~/.config/ocelot/config.yml``, the file ``make run`` writes)::

    url: http://127.0.0.1:5000
    token: oct_...
    colors:              # rich styles per build/stage status or screen element
      FAILED: bold red
      hash: yellow

``OCELOT_URL`` and ``OCELOT_TOKEN`` override the file; ``NO_COLOR`` (any non-empty value)
turns colour off. A missing file is fine; a malformed one is an error naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.errors import StyleSyntaxError
from rich.style import Style

from ocelot.errors import InvalidRequest
from ocelot.status import BuildStatus, StageStatus

DEFAULT_URL = "http://127.0.0.1:5000"

# Every build and stage status (ocelot.status: no server dependencies).
STATUSES = tuple(dict.fromkeys([*BuildStatus, *StageStatus]))
# Screen elements besides statuses whose style a user may change.
ELEMENTS = ("header", "label", "id", "hash", "branch", "repo", "dim", "error", "warning", "note")

DEFAULT_COLORS: dict[str, str] = {
    BuildStatus.QUEUED: "cyan",
    BuildStatus.RUNNING: "bold blue",
    BuildStatus.PASSED: "bold green",
    BuildStatus.FAILED: "bold red",
    BuildStatus.FAILED_PRESTART: "bold red",
    BuildStatus.KILLED: "magenta",
    BuildStatus.SKIPPED: "yellow",
    StageStatus.PENDING: "dim",
    BuildStatus.PENDING_APPROVAL: "bold yellow",
    BuildStatus.DECLINED: "magenta",
    "header": "bold",
    "label": "dim",
    "id": "bold",
    "hash": "yellow",
    "branch": "cyan",
    "repo": "bold",
    "dim": "dim",
    "error": "bold red",
    "warning": "yellow",
    "note": "dim",
}


@dataclass(frozen=True)
class ClientConfig:
    """Where the server is, how to authenticate, and how to colour the output."""

    url: str = DEFAULT_URL
    token: str | None = None
    colors: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_COLORS))
    no_color: bool = False
    path: Path | None = None  # the file read, if any (for messages)


def config_path(env: Mapping[str, str]) -> Path:
    """The config file this environment points at (it may not exist)."""
    if env.get("OCELOT_CONFIG"):
        return Path(env["OCELOT_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base).expanduser() / "ocelot" / "config.yml"


def read_file(path: Path) -> dict[str, Any]:
    """The CLI config file as a mapping ({} when missing); InvalidRequest when unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"cannot read {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidRequest(f"{path} must be a mapping with url, token and colors")
    return data


def _string(data: Mapping[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{path}: {key} must be a string")
    return value


def _canonical_key(key: object) -> str | None:
    text = str(key)
    if text.upper() in STATUSES:
        return text.upper()
    if text.lower() in ELEMENTS:
        return text.lower()
    return None


def _colors(raw: Any, path: Path) -> dict[str, str]:
    colors = dict(DEFAULT_COLORS)
    if raw is None:
        return colors
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{path}: colors must be a mapping of status or element to style")
    for key, style in raw.items():
        name = _canonical_key(key)
        if name is None:
            known = ", ".join((*STATUSES, *ELEMENTS))
            raise InvalidRequest(f"{path}: colors.{key}: unknown; known keys: {known}")
        style_text = "none" if style is None else str(style)
        try:
            Style.parse(style_text)
        except StyleSyntaxError as exc:
            raise InvalidRequest(f"{path}: colors.{key}: {exc}") from None
        colors[name] = style_text
    return colors


def load_client_config(env: Mapping[str, str] | None = None) -> ClientConfig:
    """Build the client config: file, then ``OCELOT_URL``/``OCELOT_TOKEN`` over it."""
    env = os.environ if env is None else env
    path = config_path(env)
    data = read_file(path)
    url = env.get("OCELOT_URL") or _string(data, "url", path) or DEFAULT_URL
    token = env.get("OCELOT_TOKEN") or _string(data, "token", path)
    return ClientConfig(
        url=url.rstrip("/"),
        token=token,
        colors=_colors(data.get("colors"), path),
        no_color=bool(env.get("NO_COLOR")),
        path=path if data else None,
    )
