"""Alembic environment. The database is the one modelyard uses: the URL `modelyard db upgrade`
passes in, or — when the `alembic` command runs this directly — MODELYARD_DATABASE_URL, or the
SQLite file in MODELYARD_DATA_DIR (default `data/`, created if missing), read by the same
settings class as every other modelyard command."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

# Imported for their side effect: registers the router's tables on the shared metadata.
import router.accounts.orm
import router.api.orm
import router.quality.orm  # noqa: F401
from catalog.db import make_engine
from catalog.orm import Base

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    given = config.get_main_option("sqlalchemy.url")
    if given:
        return given
    from web.settings import Settings

    return Settings().database_url


def run_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        url = database_url()
        make_engine(url).dispose()  # creates the SQLite file's folder, as the app does
        # A plain engine: the app's SQLite pragmas (foreign keys on) would get in the way of
        # batch mode, which rebuilds tables.
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.connect() as connection:
            _migrate(connection)
        engine.dispose()
    else:
        _migrate(connectable)


def _migrate(connection: object) -> None:
    # Batch mode lets ALTER-style migrations run on SQLite, which rebuilds tables instead.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
