"""Celery tasks. Thin: they take ids, call ``ocelot.runner`` and enqueue the next step."""
