"""The ``ocelot`` command: a thin client of the REST API plus a few offline and admin commands.

* :mod:`ocelot.cli.main` — the click group and :func:`~ocelot.cli.main.main` (console script).
* :mod:`ocelot.cli.config` — client config (``~/.config/ocelot/config.yml``, ``OCELOT_*``).
* :mod:`ocelot.cli.client` — the only path to the server; turns error bodies into OcelotError.
* :mod:`ocelot.cli.sse` — Server-Sent Events parsing for ``logs --follow``.
* :mod:`ocelot.cli.gitinfo` — ``ACCT/REPO``, HEAD and branch of the checkout we run in.
* :mod:`ocelot.cli.output` — rich tables and colours that read well in 80 columns.
* :mod:`ocelot.cli.commands` — one module per group of commands.

Commands import server-side modules (``ocelot.db``, ``ocelot.pipeline``) lazily, so the
client commands start fast and work on a machine without the server's dependencies.
"""
