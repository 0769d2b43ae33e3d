"""Every migration upgrades and downgrades, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from ocelot.db import downgrade, migrate
from ocelot.models import Base
from ocelot.settings import Settings

TABLES = {"repos", "builds", "stages", "log_chunks", "api_tokens"}


def test_upgrade_matches_the_models_and_downgrade_removes_everything(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        names = set(inspect(engine).get_table_names())
        assert names >= TABLES
        for table in Base.metadata.sorted_tables:
            cols = {c["name"] for c in inspect(engine).get_columns(table.name)}
            assert cols == {c.name for c in table.columns}, table.name
        downgrade(settings, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate(settings)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()
