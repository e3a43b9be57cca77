"""Alembic builds the schema on SQLite and PostgreSQL, and it matches the ORM exactly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import router.accounts.orm
import router.api.orm
import router.quality.orm  # noqa: F401
from catalog.orm import Base
from tests.conftest import migrate
from web.commands.root import alembic_config


def test_upgrade_head_leaves_no_autogenerate_diff(database_url: str) -> None:
    migrate(database_url)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_every_table_is_created_and_downgrade_removes_them(database_url: str) -> None:
    migrate(database_url)
    engine = create_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    command.downgrade(alembic_config(database_url), "base")  # type: ignore[arg-type]
    remaining = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert remaining == set()
