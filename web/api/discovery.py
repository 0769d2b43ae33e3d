"""Discovery: find an account's repositories with an ``ocelot.yml`` and (optionally) track them."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from ocelot.db import session_scope
from ocelot.errors import InvalidRequest
from ocelot.services import discovery
from web.api.blueprint import api
from web.api.util import bool_value, json_body
from web.extensions import services


@api.post("/repos/discover")
def discover_repos() -> ResponseReturnValue:
    """``{"acct", "forge", "track"?: bool, "group"?}`` → ``{"repos": [{full_name,
    has_ocelot_yml, tracked: new|already|no, reason?}]}``; 502 when the forge fails."""
    body = json_body()
    for key in ("acct", "forge"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            raise InvalidRequest(f"{key} is required (a string)")
    group = body.get("group")
    if group is not None and not isinstance(group, str):
        raise InvalidRequest("group must be a string")
    svc = services()
    with session_scope(svc.engine) as session:
        rows = discovery.discover(
            session,
            svc.settings,
            body["acct"],
            body["forge"].strip().lower(),
            track=bool_value(body.get("track", False)),
            group=group or None,
        )
        return jsonify({"repos": rows})
