"""Ocelot: a self-hosted, distributed CI server.

The ``ocelot`` package is the domain core shared by the web app (``web``), the Celery
workers (``worker``) and the CLI. It imports neither Flask nor Celery.
"""

__version__ = "0.1.0"
