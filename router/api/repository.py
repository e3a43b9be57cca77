"""The SQL of stored Responses API answers."""

from __future__ import annotations

from sqlalchemy import delete, literal, select
from sqlalchemy.orm import Session, aliased

from router.api.orm import StoredResponse


def add_stored_response(session: Session, row: StoredResponse) -> None:
    session.add(row)
    session.flush()


def stored_response(session: Session, response_id: str, api_key_id: int) -> StoredResponse | None:
    """A key's stored response; another key's is as good as absent."""
    return session.scalars(
        select(StoredResponse).where(
            StoredResponse.id == response_id, StoredResponse.api_key_id == api_key_id
        )
    ).first()


def stored_conversation(
    session: Session, response_id: str, api_key_id: int, limit: int = 10_000
) -> list[StoredResponse]:
    """A response and the responses it continues, oldest first, in one recursive query.
    The walk stops at a response of another key or one that is gone: the caller compares
    the oldest one's `previous_response_id` with what it found."""
    chain = (
        select(StoredResponse.id, StoredResponse.previous_response_id, literal(0).label("depth"))
        .where(StoredResponse.id == response_id, StoredResponse.api_key_id == api_key_id)
        .cte("chain", recursive=True)
    )
    earlier = aliased(StoredResponse)
    chain = chain.union_all(
        select(earlier.id, earlier.previous_response_id, chain.c.depth + 1).where(
            earlier.id == chain.c.previous_response_id,
            earlier.api_key_id == api_key_id,
            chain.c.depth < limit,
        )
    )
    query = (
        select(StoredResponse)
        .join(chain, StoredResponse.id == chain.c.id)
        .order_by(chain.c.depth.desc())
    )
    return list(session.scalars(query))


def delete_stored_response(session: Session, response_id: str, api_key_id: int) -> bool:
    result = session.execute(
        delete(StoredResponse).where(
            StoredResponse.id == response_id, StoredResponse.api_key_id == api_key_id
        )
    )
    return bool(getattr(result, "rowcount", 0))
