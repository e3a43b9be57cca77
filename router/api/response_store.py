"""Stored Responses API answers: what `store` keeps, what `previous_response_id` continues,
what GET and DELETE /v1/responses/{id} read and remove. Scoped to the key that made them:
another key's response is answered exactly as a missing one (404).

Only requests that store or continue a response touch the database, in a worker thread."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from router.api import repository as repo
from router.api.orm import StoredResponse
from router.core.errors import RouteError


def not_found(response_id: str, param: str | None = None) -> RouteError:
    return RouteError(
        f"no response with id '{response_id}' found for this key",
        "not_found" if param is None else "previous_response_not_found",
        404,
        param=param,
    )


class ResponseStore:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    async def conversation(self, response_id: str, api_key_id: int) -> list[dict[str, Any]]:
        """The chat messages of a stored conversation up to and including this response."""

        def load() -> list[dict[str, Any]] | str:
            with self._factory() as session:
                chain = repo.stored_conversation(session, response_id, api_key_id)
                if not chain:
                    return response_id
                if chain[0].previous_response_id is not None:
                    return chain[0].previous_response_id  # an earlier one is gone
                return [m for row in chain for m in row.messages]

        found = await asyncio.to_thread(load)
        if isinstance(found, str):
            raise not_found(found, "previous_response_id")
        return found

    async def save(
        self, response: dict[str, Any], messages: list[dict[str, Any]], api_key_id: int
    ) -> None:
        def write() -> None:
            with self._factory() as session:
                repo.add_stored_response(
                    session,
                    StoredResponse(
                        id=response["id"],
                        api_key_id=api_key_id,
                        previous_response_id=response.get("previous_response_id"),
                        messages=messages,
                        response=response,
                    ),
                )
                session.commit()

        await asyncio.to_thread(write)

    async def get(self, response_id: str, api_key_id: int) -> dict[str, Any]:
        def read() -> dict[str, Any] | None:
            with self._factory() as session:
                row = repo.stored_response(session, response_id, api_key_id)
                return None if row is None else dict(row.response)

        found = await asyncio.to_thread(read)
        if found is None:
            raise not_found(response_id)
        return found

    async def own_input(self, response_id: str, api_key_id: int) -> list[dict[str, Any]]:
        """The chat messages a stored response's own input became (its output, the last of
        its messages, left out)."""

        def read() -> list[dict[str, Any]] | None:
            with self._factory() as session:
                row = repo.stored_response(session, response_id, api_key_id)
                return None if row is None else list(row.messages[:-1])

        found = await asyncio.to_thread(read)
        if found is None:
            raise not_found(response_id)
        return found

    async def delete(self, response_id: str, api_key_id: int) -> None:
        def remove() -> bool:
            with self._factory() as session:
                deleted = repo.delete_stored_response(session, response_id, api_key_id)
                session.commit()
                return deleted

        if not await asyncio.to_thread(remove):
            raise not_found(response_id)
