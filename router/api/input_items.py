"""GET /v1/responses/{id}/input_items: a stored response's own input (not the conversation it
continued, nor its instructions), as items in OpenAI's list shape, a page at a time."""

from __future__ import annotations

from typing import Any, Literal

from router.api.responses_forward import listed_items
from router.core.errors import RouteError

Order = Literal["asc", "desc"]


def page(
    response_id: str,
    messages: list[dict[str, Any]],
    limit: int = 20,
    order: Order = "desc",
    after: str | None = None,
) -> dict[str, Any]:
    """Items in `order` (newest first by default, as OpenAI lists them), `limit` of them after
    the item `after`; `has_more` says whether a next page exists."""
    items = listed_items(response_id, messages)
    if order == "desc":
        items.reverse()
    start = 0
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise RouteError(
                f"after: no input item '{after}' in response '{response_id}'", param="after"
            )
        start = ids.index(after) + 1
    data = items[start : start + limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + limit < len(items),
    }
