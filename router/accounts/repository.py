"""All of the router's SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from router.accounts.orm import ApiKey, EmbeddingPin, Team, UsageRecord


def key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()


def key_by_secret_hash(session: Session, key_hash: str) -> tuple[ApiKey, bool] | None:
    """The key whose current secret, or previous one (True), has this hash."""
    key = key_by_hash(session, key_hash)
    if key is not None:
        return key, False
    previous = session.scalars(select(ApiKey).where(ApiKey.previous_hash == key_hash)).first()
    return (previous, True) if previous is not None else None


def team_by_name(session: Session, name: str) -> Team | None:
    return session.scalars(select(Team).where(Team.name == name)).first()


def list_teams(session: Session) -> Sequence[Team]:
    return session.scalars(select(Team).order_by(Team.name)).all()


def spend_by_key(session: Session, since: dt.datetime) -> dict[int, Decimal]:
    """USD spent per key since a moment."""
    rows = session.execute(
        select(UsageRecord.api_key_id, func.coalesce(func.sum(UsageRecord.cost_usd), 0))
        .where(UsageRecord.created_at >= since, UsageRecord.api_key_id.is_not(None))
        .group_by(UsageRecord.api_key_id)
    )
    return {int(key_id): Decimal(str(total)) for key_id, total in rows if key_id is not None}


def key_by_name(session: Session, name: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.name == name)).first()


def list_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.name)).all()


def usage_rows(session: Session, api_key_id: int | None, start: dt.date, end: dt.date) -> list[Any]:
    """Requests, tokens and cost per key, model and day in [start, end), for one key or all."""
    day = func.date(UsageRecord.created_at)
    query = (
        select(
            ApiKey.name.label("key_name"),
            UsageRecord.model_name,
            func.cast(day, String).label("day"),
            func.count().label("requests"),
            func.coalesce(func.sum(UsageRecord.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(UsageRecord.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(UsageRecord.cost_usd), 0).label("cost_usd"),
        )
        .outerjoin(ApiKey, ApiKey.id == UsageRecord.api_key_id)
        .where(UsageRecord.created_at >= _start_of(start), UsageRecord.created_at < _start_of(end))
        .group_by(ApiKey.name, UsageRecord.model_name, day)
    )
    if api_key_id is not None:
        query = query.where(UsageRecord.api_key_id == api_key_id)
    return [
        SimpleNamespace(
            key_name=row.key_name,
            model_name=row.model_name,
            day=str(row.day)[:10],
            requests=int(row.requests),
            input_tokens=int(row.input_tokens),
            output_tokens=int(row.output_tokens),
            cost_usd=Decimal(str(row.cost_usd)),
        )
        for row in session.execute(query)
    ]


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def embedding_pin(session: Session, api_key_id: int) -> str | None:
    return session.scalars(
        select(EmbeddingPin.model_name).where(EmbeddingPin.api_key_id == api_key_id)
    ).first()


def claim_embedding_pin(session: Session, api_key_id: int, model_name: str, route_id: str) -> str:
    """Pin `model_name` unless the key has a pin already; either way, the pin that holds.
    One INSERT … ON CONFLICT DO NOTHING: when replicas race, the first writer wins."""
    row = {"api_key_id": api_key_id, "model_name": model_name, "route_id": route_id}
    row["pinned_at"] = dt.datetime.now(dt.UTC)
    table = EmbeddingPin.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(table).values(**row).on_conflict_do_nothing())  # type: ignore[arg-type]
    held = embedding_pin(session, api_key_id)
    assert held is not None
    return held


def clear_embedding_pin(session: Session, api_key_id: int) -> bool:
    result = session.execute(delete(EmbeddingPin).where(EmbeddingPin.api_key_id == api_key_id))
    return bool(getattr(result, "rowcount", 0))
