"""Ocelot's Celery side: the app, its signals and the thin tasks that call ``ocelot.runner``."""
