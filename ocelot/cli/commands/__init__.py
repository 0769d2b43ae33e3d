"""The ``ocelot`` subcommands, one module per group: local, repos, builds, logs, admin."""
