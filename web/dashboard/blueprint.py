"""The ``dashboard`` blueprint object, apart from the package so that ``views.py`` can import
it without importing the package that imports ``views`` (no import cycle, as in
``web/api/blueprint.py``)."""

from __future__ import annotations

from flask import Blueprint

dashboard = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/dashboard/static",
)
