"""Use-cases shared by web, worker and CLI.

Services take a SQLAlchemy session, do their work inside the caller's transaction and return
ids or rows; the caller commits (``ocelot.db.session_scope``) and only then enqueues tasks.
"""
