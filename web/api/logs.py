"""Logs of a build: plain text so far, or ``?follow=1`` as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import Response, request, stream_with_context
from flask.typing import ResponseReturnValue

from ocelot.db import session_scope
from ocelot.logstream import follow, read_text
from ocelot.services.builds import get_build
from web.api.blueprint import api
from web.api.util import bool_value
from web.extensions import services


@api.get("/builds/<int:build_id>/logs")
def build_logs(build_id: int) -> ResponseReturnValue:
    svc = services()
    with session_scope(svc.engine) as session:
        get_build(session, build_id)  # 404 for an unknown build
    stage = request.args.get("stage") or None
    if not bool_value(request.args.get("follow", "")):
        text = read_text(svc.engine, build_id, stage)
        return Response(text, mimetype="text/plain; charset=utf-8")

    def events() -> Iterator[str]:
        for event in follow(svc.engine, svc.redis, build_id, stage):
            if event.kind == "keepalive":
                yield ": keepalive\n\n"
            else:
                yield f"event: {event.kind}\ndata: {json.dumps(event.data)}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream_with_context(events()), mimetype="text/event-stream", headers=headers)
