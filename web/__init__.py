"""Ocelot's web side: the Flask app factory and its blueprints."""

from web.app import create_app

__all__ = ["create_app"]
