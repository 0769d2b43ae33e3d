"""The build page (``/builds/<id>``): header, stages, and the log in one section per stage.

A long log is not sent whole: the page holds the last :data:`PAGE_LINES` lines, each section
says how many lines it has, and ``/builds/<id>/lines`` hands out any range as escaped HTML
(see :mod:`ocelot.loglines`), so a 200,000-line log opens as fast as a short one. While the
build runs, ``/builds/<id>/events`` streams new lines already rendered, and
``/builds/<id>/state`` re-renders the header and the stages table for the page to swap in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue

from ocelot.db import session_scope
from ocelot.loglines import Line, Outline, Section, lines_in, outline
from ocelot.logstream import follow, stored_chunks
from ocelot.services import builds as build_service
from ocelot.services import subscriptions as subscription_service
from ocelot.status import FINISHED, WAITING, BuildStatus
from web.dashboard.ansi import AnsiState, line_html
from web.dashboard.blueprint import dashboard
from web.dashboard.views import _ref, _seconds, span
from web.extensions import services

PAGE_LINES = 1000  # lines in the page at first, and per "earlier lines" / "later lines" load
MAX_RANGE = 5000  # the most lines one /lines request returns


def _int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        return default


def build_facts(build_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header's facts and the current attempt's stages, formatted for the templates."""
    with session_scope(services().engine) as db:
        build = build_service.get_build(db, build_id)
        data = build.to_dict()
        data["repo_acct"], data["repo_name"] = build.repo.acct, build.repo.name
        data["ref"] = _ref(build.branch, build.tag, build.pr_id)
        data["queue_wait"] = span(_seconds(build.queued_at, build.started_at))
        data["duration"] = span(_seconds(build.started_at, build.finished_at))
        data["queued"] = build.queued_at
        data["finished"] = build.status in FINISHED
        data["waiting"] = build.status in WAITING
        data["pending_approval"] = build.status == BuildStatus.PENDING_APPROVAL
        data["approved_at_dt"] = build.approved_at
        data["downstream"] = subscription_service.downstream_of(db, build.id)
        stages = [
            {
                **stage.to_dict(),
                "duration": span(_seconds(stage.started_at, stage.finished_at))
                if stage.started_at
                else "—",
            }
            for stage in build.current_stages()
        ]
    return data, stages


def _label(section: Section, attempts: int) -> str:
    name = section.stage or "set-up"
    return f"attempt {section.attempt} · {name}" if attempts > 1 else name


def _sections(
    shape: Outline, loaded: list[Line], build: dict[str, Any], stages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every section with its loaded lines (rendered) and the stage status it belongs to."""
    attempts = len({s.attempt for s in shape.sections})
    status = {s["name"]: s["status"] for s in stages}
    by_section: dict[int, list[Line]] = {}
    for line in loaded:
        by_section.setdefault(line.section, []).append(line)
    out = []
    for section in shape.sections:
        lines = by_section.get(section.index, [])
        state = AnsiState()
        current = section.attempt == build["attempt"]
        out.append(
            {
                "index": section.index,
                "attempt": section.attempt,
                "stage": section.stage or "",
                "label": _label(section, attempts),
                "status": status.get(section.stage or "") if current else None,
                "first": section.first_line,
                "last": section.last_line,
                "lo": lines[0].number if lines else section.last_line + 1,
                "hi": lines[-1].number if lines else section.last_line,
                "lines": [(line.number, line_html(line.text, state)) for line in lines],
                "open": bool(lines),
            }
        )
    return out


@dashboard.get("/builds/<int:build_id>")
def build_page(build_id: int) -> ResponseReturnValue:
    build, stages = build_facts(build_id)
    engine = services().engine
    shape = outline(engine, build_id)
    loaded = lines_in(engine, build_id, shape, shape.total - PAGE_LINES + 1, shape.total)
    return render_template(
        "dashboard/build.html",
        build=build,
        stages=stages,
        sections=_sections(shape, loaded, build, stages),
        total=shape.total,
        last_seq=shape.last_seq,
        page_lines=PAGE_LINES,
    )


@dashboard.get("/builds/<int:build_id>/state")
def build_state(build_id: int) -> ResponseReturnValue:
    """The header and the stages table re-rendered, for a running build's page to swap in."""
    build, stages = build_facts(build_id)
    return {
        "status": build["status"],
        "finished": build["finished"],
        "attempt": build["attempt"],
        "stages": {s["name"]: s["status"] for s in stages},
        "head": render_template("dashboard/_build_head.html", build=build),
        "table": render_template("dashboard/_stages.html", stages=stages),
    }


@dashboard.get("/builds/<int:build_id>/lines")
def build_lines(build_id: int) -> ResponseReturnValue:
    """Lines ``?first=`` … ``?last=`` (at most :data:`MAX_RANGE`) as rendered HTML."""
    engine = services().engine
    with session_scope(engine) as db:
        build_service.get_build(db, build_id)  # 404 for an unknown build
    first = max(_int_arg("first", 1), 1)
    last = min(_int_arg("last", first + PAGE_LINES - 1), first + MAX_RANGE - 1)
    shape = outline(engine, build_id)
    states: dict[int, AnsiState] = {}
    lines = [
        {
            "n": line.number,
            "s": line.section,
            "html": line_html(line.text, states.setdefault(line.section, AnsiState())),
        }
        for line in lines_in(engine, build_id, shape, first, last)
    ]
    return {"total": shape.total, "lines": lines}


@dashboard.get("/builds/<int:build_id>/events")
def build_events(build_id: int) -> ResponseReturnValue:
    """The log from ``?after=SEQ`` on, live, as Server-Sent Events: ``log`` events carry the
    chunk's attempt, stage and lines rendered to HTML, the last one still open when the chunk
    ends inside a line, and ``continues`` when its first line is the rest of the line the
    chunk before left open; ``end`` carries the final status."""
    svc = services()
    with session_scope(svc.engine) as db:
        build_service.get_build(db, build_id)  # 404 for an unknown build
    after = max(_int_arg("after", 0), 0)

    def events() -> Iterator[str]:
        states: dict[tuple[Any, Any], AnsiState] = {}
        open_in: tuple[Any, Any] | None = None  # the section whose last chunk ended mid-line
        for event in follow(svc.engine, svc.redis, build_id):
            if event.kind == "keepalive":
                yield ": keepalive\n\n"
                continue
            data = event.data
            if event.kind == "log":
                key = (data.get("attempt"), data.get("stage"))
                text = str(data.get("text", ""))
                continues, open_in = open_in == key, key if not text.endswith("\n") else None
                if int(data.get("seq", 0)) <= after:
                    continue
                state = states.setdefault(key, AnsiState())
                pieces = text.split("\n")
                if pieces and pieces[-1] == "":
                    pieces.pop()
                data = {
                    "seq": data.get("seq"),
                    "attempt": data.get("attempt"),
                    "stage": data.get("stage"),
                    "lines": [line_html(piece, state) for piece in pieces],
                    "continues": continues,
                }
            yield f"event: {event.kind}\ndata: {json.dumps(data)}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream_with_context(events()), mimetype="text/event-stream", headers=headers)


@dashboard.get("/builds/<int:build_id>/log.txt")
def raw_log(build_id: int) -> ResponseReturnValue:
    svc = services()
    with session_scope(svc.engine) as db:
        build_service.get_build(db, build_id)

    def text() -> Iterator[str]:
        for chunk in stored_chunks(svc.engine, build_id):
            yield chunk.text

    headers = {"Content-Disposition": f'attachment; filename="build-{build_id}.log"'}
    return Response(text(), mimetype="text/plain; charset=utf-8", headers=headers)
