"""What `modelyard serve` checks before it listens, so that a wrong environment stops it with
one sentence (see web/problems.py) rather than a traceback from inside the server's start-up:
the database answers and is at this code's revision, and Redis answers when configured. A
missing embedded model file only warns: the other deployments still serve."""

from __future__ import annotations

from catalog import repository
from catalog.db import make_engine, make_session_factory
from catalog.orm import Deployment
from catalog.terms import DeploymentKind, DeploymentStatus
from web.migrations import revision_problem
from web.problems import RedisUnreachable, redis_unreachable, shown_url
from web.settings import Settings

REDIS_TIMEOUT_SECONDS = 2.0


def redis_answers(url: str, timeout: float = REDIS_TIMEOUT_SECONDS) -> None:
    """Raises RedisUnreachable when Redis at `url` does not answer a PING."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise redis_unreachable(exc, url) from exc
    except redis.RedisError as exc:  # answers, but refuses us (a password, say)
        raise RedisUnreachable(
            f"Redis at {shown_url(url)} refuses modelyard ({exc})",
            "correct MODELYARD_REDIS_URL (a password goes in redis://:password@host:port/0)",
        ) from exc
    finally:
        client.close()


def active_deployments(settings: Settings, kind: DeploymentKind) -> list[Deployment]:
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return [
                d
                for d in repository.list_deployments(session)
                if d.kind == kind and d.status == DeploymentStatus.ACTIVE
            ]
    finally:
        engine.dispose()


def missing_model_files(settings: Settings) -> list[str]:
    """One sentence per active embedded deployment whose model file cannot be found: a GGUF
    for chat, WordLlama's weights for embeddings."""
    from adapters.embedded import locate_gguf
    from adapters.errors import ModelUnavailable
    from adapters.wordllama import PREFIX, locate_weights
    from web.problems import model_file_missing

    found = []
    for deployment in active_deployments(settings, DeploymentKind.EMBEDDED):
        try:
            if deployment.served_name.startswith(PREFIX):
                locate_weights(deployment.served_name.removeprefix(PREFIX))
            else:
                locate_gguf(deployment.served_name)
        except ModelUnavailable as exc:
            what = f"deployment {deployment.name}: {exc.message}"
            found.append(model_file_missing(what).sentence())
    return found


def check_before_serving(settings: Settings) -> list[str]:
    """Raise the first environment problem that would stop the server; return warnings."""
    engine = make_engine(settings.database_url)
    try:
        problem = revision_problem(settings.database_url, engine)
    finally:
        engine.dispose()
    if problem is not None:
        raise problem
    if settings.redis_url:
        redis_answers(settings.redis_url)
    return missing_model_files(settings)
