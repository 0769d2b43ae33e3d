"""Unit tier fixtures: the CLI tests' ``server`` and ``run`` (tests/unit/cli_harness.py)."""

from tests.unit.cli_harness import run, server

__all__ = ["run", "server"]
