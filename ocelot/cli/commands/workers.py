"""``ocelot workers``: the workers registry (``GET /api/v1/workers``) as a table, or as JSON.

A row per worker: name, host, executor, tags, capacity, the builds it runs (count and ids),
how long ago its last heartbeat was, and its state: ``alive``, ``lost`` (heartbeats missed,
no clean stop) or ``stopped``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click
from rich import box
from rich.table import Table
from rich.text import Text

from ocelot.cli.app import App, pass_app
from ocelot.cli.output import DASH, style_for
from ocelot.formatting import duration
from ocelot.status import WorkerState

# Worker states drawn with the styles of the build statuses and elements they resemble.
STATE_STYLES: dict[str, str] = {
    WorkerState.ALIVE: "PASSED",
    WorkerState.LOST: "error",
    WorkerState.STOPPED: "dim",
}


def _running(ids: Sequence[Any]) -> Text:
    """``0``, or the count and the build ids: ``2: #7 #9``."""
    if not ids:
        return Text("0")
    return Text(f"{len(ids)}: " + " ".join(f"#{i}" for i in ids))


def _seen(worker: Mapping[str, Any]) -> Text:
    age = worker.get("last_seen_seconds")
    return Text(DASH if age is None else f"{duration(float(age))} ago")


def _state(worker: Mapping[str, Any]) -> Text:
    state = str(worker.get("state") or DASH)
    return Text(state, style=style_for(STATE_STYLES.get(state)))


def workers_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """The workers, one a row; running ids and tags fold, the short columns never wrap."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=0)
    table.add_column("name", overflow="fold", style=style_for("id"))
    table.add_column("host", overflow="fold")
    table.add_column("executor", no_wrap=True)
    table.add_column("tags", overflow="fold")
    table.add_column("capacity", justify="right", no_wrap=True)
    table.add_column("running", overflow="fold")
    table.add_column("last seen", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for worker in rows:
        table.add_row(
            Text(str(worker.get("name") or DASH)),
            Text(str(worker.get("host") or DASH)),
            Text(str(worker.get("executor") or DASH)),
            Text(",".join(str(t) for t in worker.get("tags") or []) or DASH),
            Text(str(worker.get("capacity", DASH))),
            _running(worker.get("running") or []),
            _seen(worker),
            _state(worker),
        )
    return table


@click.command("workers")
@click.option(
    "--json", "as_json", is_flag=True, help="Print what the server sent, as JSON, for scripts."
)
@pass_app
def workers(app: App, as_json: bool) -> None:
    """List the workers: where each runs, what it can take, what it runs, and whether it is
    alive, lost (it missed its heartbeats) or stopped."""
    rows = app.client.workers()
    if as_json:
        click.echo(json.dumps({"workers": rows}, indent=2))
        return
    if not rows:
        app.note("no worker has registered yet (start one with `python -m worker`)")
        return
    app.out.print(workers_table(rows))
