"""Workers: the registry of workers, with their state and running builds (role ``read``)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from ocelot.db import session_scope
from ocelot.services import workers as worker_service
from web.api.blueprint import api
from web.extensions import services


@api.get("/workers")
def list_workers() -> ResponseReturnValue:
    """Every registered worker: where it runs, its state (alive, lost, stopped), its builds."""
    with session_scope(services().engine) as session:
        views = worker_service.list_workers(session)
    return jsonify({"workers": [view.to_dict() for view in views]})
