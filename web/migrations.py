"""The database schema's revision: what Alembic's scripts lead to (head) and where a database
stands, for `modelyard db upgrade`, `modelyard doctor` and `modelyard serve`'s start-up check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from catalog.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Engine

    from web.problems import EnvironmentProblem

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    config = alembic_config("sqlite://")
    return ScriptDirectory.from_config(config).get_current_head()


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {script.revision for script in scripts.walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database; None for a database never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def revision_problem(url: str, engine: Engine | None = None) -> EnvironmentProblem | None:
    """What keeps the database at `url` from being used by this code, if anything: not
    migrated, at an older revision, or at one this code does not know. Connection errors
    propagate (the caller explains them)."""
    from web.problems import schema_problem, unknown_revision

    own = engine is None
    engine = engine or make_engine(url)
    try:
        current = current_revision(engine)
    finally:
        if own:
            engine.dispose()
    if current is not None and current not in known_revisions():
        return unknown_revision(url, current)
    return schema_problem(url, current, head_revision())
