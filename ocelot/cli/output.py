"""Rendering for the terminal: rich tables and colours that read well in 80 columns.

Everything that comes from the server or the user (branch names, stage messages, URLs) goes
into :class:`rich.text.Text` objects, never into markup strings, so a ``[red]`` in a commit
message is printed as is. Styles are theme names ``ocelot.<key>`` filled from the client
config's ``colors:`` (see :mod:`ocelot.cli.config`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.theme import Theme

from ocelot.cli.config import ClientConfig
from ocelot.formatting import duration
from ocelot.status import NotificationOutcome

DASH = "-"


def make_console(config: ClientConfig, *, stderr: bool = False, **options: Any) -> Console:
    """A console themed by the config; colourless when ``NO_COLOR`` is set.

    ``options`` go to :class:`rich.console.Console` (``width``, ``file``, ...).
    """
    theme = Theme({f"ocelot.{key}": style for key, style in config.colors.items()})
    return Console(
        theme=theme,
        stderr=stderr,
        no_color=config.no_color,
        highlight=False,
        emoji=False,
        **options,
    )


def style_for(key: str | None) -> str:
    """The theme style name of a status or element (unknown statuses stay unstyled)."""
    return f"ocelot.{key}" if key else ""


def status_text(status: str | None) -> Text:
    if not status:
        return Text(DASH)
    return Text(status, style=style_for(status))


def _text(value: Any, style: str = "") -> Text:
    return Text(DASH if value is None or value == "" else str(value), style=style)


def short_hash(build: Mapping[str, Any]) -> str:
    return str(build.get("hash_short") or (build.get("hash") or "")[:7] or DASH)


def _commit(build: Mapping[str, Any]) -> Text:
    text = Text(short_hash(build), style=style_for("hash"))
    if build.get("branch"):
        text.append(" on ").append(str(build["branch"]), style=style_for("branch"))
    if build.get("tag"):
        text.append(" tag ").append(str(build["tag"]), style=style_for("branch"))
    if build.get("pr_id"):
        text.append(f" PR #{build['pr_id']}")
    return text


def _trigger(build: Mapping[str, Any]) -> Text:
    text = Text(str(build.get("trigger") or DASH))
    if build.get("triggered_by"):
        text.append(f" by {build['triggered_by']}")
    if build.get("forced"):
        text.append(" (forced)")
    return text


def build_header(build: Mapping[str, Any]) -> Table:
    """Key/value lines about one build; rows with nothing to say are left out."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style=style_for("label"), no_wrap=True)
    grid.add_column(overflow="fold")
    title = Text(f"#{build.get('id')}", style=style_for("id"))
    title.append("  ").append(str(build.get("repo") or ""), style=style_for("repo"))
    rows: list[tuple[str, Text | None]] = [
        ("build", title),
        ("pipeline", _optional(build.get("pipeline"))),
        ("commit", _commit(build)),
        ("status", status_text(build.get("status"))),
        ("message", _first_line(build.get("message"))),
        ("trigger", _trigger(build)),
        ("queue wait", Text(duration(build.get("queue_wait_seconds")))),
        ("duration", Text(duration(build.get("duration_seconds")))),
        ("worker", _optional(build.get("worker"))),
        ("attempt", _attempts(build)),
        ("notified", _notified(build)),
        ("pending", _optional(build.get("pending_reason"))),
        ("trust", _optional(None if build.get("trusted", True) else _untrusted(build))),
        ("reason", _optional(build.get("failure_reason"), style_for("error"))),
        ("debug", _optional(_debug(build.get("kept_container")))),
        ("images", _images(build.get("images"))),
    ]
    for label, value in rows:
        if value is not None:
            grid.add_row(label, value)
    return grid


def _images(images: list[Mapping[str, Any]] | None) -> Text | None:
    """One line per image a build_image stage made: id, reuse, pushed digests."""
    if not images:
        return None
    lines = []
    for entry in images:
        line = f"{entry.get('stage')}: {str(entry.get('image_id'))[:19]}"
        if entry.get("reused_from"):
            line += f" (reused from {entry['reused_from']})"
        pushed = entry.get("pushed") or {}
        line += "".join(f"\n  pushed {tag}@{digest}" for tag, digest in pushed.items())
        if not pushed and entry.get("tags"):
            line += f"\n  {'tagged' if entry.get('tagged', True) else 'not tagged'}: "
            line += ", ".join(entry["tags"])
        lines.append(line)
    return Text("\n".join(lines))


def _debug(kept: str | None) -> str | None:
    """How to get into what a failed build kept (``OCELOT_KEEP_CONTAINERS``): its container,
    or its workspace directory on the worker host (local executor)."""
    if not kept:
        return None
    return f"cd {kept}" if kept.startswith("/") else f"docker exec -it {kept} sh"


def _attempts(build: Mapping[str, Any]) -> Text | None:
    """``2 (1: worker lost: w1)`` when an earlier attempt ended without finishing the build."""
    history = build.get("attempts") or []
    if not history:
        return None
    earlier = "; ".join(f"{h.get('attempt')}: {h.get('reason')}" for h in history)
    return Text(f"{build.get('attempt')} ({earlier})", style=style_for("error"))


def _notified(build: Mapping[str, Any]) -> Text | None:
    """The last attempt per channel: ``slack #builds: sent (3 attempts)``."""
    last: dict[tuple[str, str], Mapping[str, Any]] = {}
    for entry in build.get("notifications") or []:
        last[(str(entry.get("channel")), str(entry.get("target")))] = entry
    if not last:
        return None
    parts = []
    for (channel, target), entry in last.items():
        tries = int(entry.get("attempt") or 1)
        part = f"{channel} {target}: {entry.get('outcome')}"
        if tries > 1:
            part += f" ({tries} attempts)"
        if entry.get("outcome") != NotificationOutcome.SENT and entry.get("error"):
            part += f" — {entry.get('error')}"
        parts.append(part)
    return Text("; ".join(parts))


def _optional(value: Any, style: str = "") -> Text | None:
    return None if value in (None, "") else Text(str(value), style=style)


def _first_line(value: Any) -> Text | None:
    text = str(value or "").strip()
    return Text(text.splitlines()[0]) if text else None


def stage_table(stages: Sequence[Mapping[str, Any]]) -> Table:
    """Stages of a build: name, status, exit code, duration and messages."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=False)
    table.add_column("stage", overflow="fold", max_width=24)
    table.add_column("status", no_wrap=True)
    table.add_column("exit", justify="right", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("messages", overflow="fold")
    for stage in stages:
        messages = Text("\n".join(str(m) for m in stage.get("messages") or []))
        exit_code = stage.get("exit_code")
        table.add_row(
            _text(stage.get("name")),
            status_text(stage.get("status")),
            _text(exit_code),
            Text(duration(stage.get("duration_seconds"))),
            messages,
        )
    return table


def _untrusted(build: Mapping[str, Any]) -> str:
    """The trust line of an untrusted build: why, and who let it run."""
    text = f"untrusted: {build.get('trust_reason') or 'code from outside the repository'}"
    if build.get("approved_by"):
        text += f" (approved by {build['approved_by']})"
    return text + "; no credentials"


def stage_header(name: str) -> Text:
    """The line ``build --follow`` prints before the log of each stage: ``==> stage NAME``."""
    return Text(f"==> stage {name}", style=style_for("header"))


def build_view(build: Mapping[str, Any]) -> RenderableType:
    """What ``ocelot status`` shows: the header, then the stage table when there are stages."""
    stages = build.get("stages") or []
    if not stages:
        return build_header(build)
    return Group(build_header(build), Text(""), stage_table(stages))


# Short names so the summary fits 80 columns; the full name is in `ocelot status`.
_TRIGGER_SHORT = {"pull_request": "pr"}


def _compact_table() -> Table:
    """A headed table whose columns are one space apart (80 columns go a long way)."""
    return Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=0)


def summary_table(builds: Sequence[Mapping[str, Any]], *, with_repo: bool = False) -> Table:
    """Recent builds, one a row: id, hash, branch, status, duration, queue wait, what, who;
    and the pipeline when some build ran another one than ``default``.

    Short columns never wrap; branch, repo and "by" absorb what is left of the width and
    end in an ellipsis when they do not fit.
    """
    with_pipeline = any(b.get("pipeline") not in (None, "default") for b in builds)
    table = _compact_table()
    table.add_column("id", justify="right", no_wrap=True, style=style_for("id"))
    if with_repo:
        table.add_column("repo", overflow="ellipsis", min_width=8)
    if with_pipeline:
        table.add_column("pipeline", overflow="ellipsis", min_width=8)
    table.add_column("hash", no_wrap=True, style=style_for("hash"))
    table.add_column("branch", overflow="ellipsis", min_width=8)
    table.add_column("status", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("wait", justify="right", no_wrap=True)
    table.add_column("trigger", no_wrap=True)
    table.add_column("by", overflow="ellipsis", min_width=5)
    for build in builds:
        branch = build.get("branch") or (f"tag {build['tag']}" if build.get("tag") else None)
        trigger = build.get("trigger")
        row: list[Text] = [_text(build.get("id"))]
        if with_repo:
            row.append(_text(build.get("repo"), style_for("repo")))
        if with_pipeline:
            row.append(_text(build.get("pipeline")))
        row += [
            Text(short_hash(build)),
            _text(branch, style_for("branch")),
            status_text(build.get("status")),
            Text(duration(build.get("duration_seconds"))),
            Text(duration(build.get("queue_wait_seconds"))),
            _text(_TRIGGER_SHORT.get(str(trigger), trigger)),
            _text(build.get("triggered_by")),
        ]
        table.add_row(*row)
    return table


def repos_table(repos: Sequence[Mapping[str, Any]]) -> Table:
    """Tracked repositories: name, forge type, group, clone URL."""
    table = _compact_table()
    table.add_column("repo", no_wrap=True, overflow="ellipsis", style=style_for("repo"))
    table.add_column("vcs", no_wrap=True)
    table.add_column("group", no_wrap=True, overflow="ellipsis", max_width=16)
    table.add_column("url", overflow="fold")
    for repo in repos:
        table.add_row(
            _text(repo.get("full_name")),
            _text(repo.get("vcs_type")),
            _text(repo.get("group")),
            _text(repo.get("url")),
        )
    return table


def discover_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """``ocelot repos discover``: repository, whether it has ocelot.yml, tracked (new/already/no),
    how a newly tracked one builds (webhook/poll), and why a repository could not be checked
    or tracked, or is polled."""
    table = _compact_table()
    table.add_column("repo", no_wrap=True, overflow="ellipsis", style=style_for("repo"))
    table.add_column("ocelot.yml", no_wrap=True)
    table.add_column("tracked", no_wrap=True)
    table.add_column("builds", no_wrap=True)
    table.add_column("note", overflow="fold")
    for row in rows:
        table.add_row(
            _text(row.get("full_name")),
            Text("yes" if row.get("has_ocelot_yml") else "no"),
            _text(row.get("tracked")),
            _text(row.get("setup") or ""),
            _text(row.get("reason") or ""),
        )
    return table
