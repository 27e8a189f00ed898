"""Schema 0003 comes and goes cleanly: downgrade removes the trail with its triggers, upgrade starts a new chain."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from imaging_cloud.db.base import create_db_engine
from imaging_cloud.db.migrate import alembic_config, upgrade

AUDIT_TABLES = {"audit_events", "audit_chain_head", "audit_checkpoints"}


def test_downgrade_and_upgrade_of_the_audit_schema(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")
        assert not AUDIT_TABLES & set(inspect(engine).get_table_names())
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= AUDIT_TABLES
        with engine.connect() as connection:
            head = connection.execute(text("SELECT id, seq, hash FROM audit_chain_head")).all()
        assert head == [(1, 0, "0" * 64)]
    finally:
        engine.dispose()
