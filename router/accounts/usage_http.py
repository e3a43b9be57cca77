"""GET /api/usage: a key's spend per model and per day, and the saving against a reference
model. The Spend page (web/pages/router_pages.py) charts the same summary."""

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from sqlalchemy.orm import Session

from catalog.snapshot import CatalogSnapshot
from router.accounts import repository as repo
from router.accounts.keys import KeyCache, KeyView
from router.accounts.usage import summarise_usage
from router.core.errors import Forbidden, RouteError


def make_router(
    snapshot: Callable[[], CatalogSnapshot],
    keys: KeyCache,
    session_dependency: Callable[..., Any],
) -> APIRouter:
    async def caller(authorization: Annotated[str | None, Header()] = None) -> KeyView:
        return await keys.authenticate(authorization)

    Caller = Annotated[KeyView, Depends(caller)]
    SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]
    api = APIRouter()

    @api.get("/api/usage", tags=["usage"])
    def usage(
        key: Caller,
        session: SessionDep,
        since: Annotated[
            dt.date | None, Query(description="First day, default 30 days ago")
        ] = None,
        until: Annotated[dt.date | None, Query(description="Last day, default today")] = None,
        reference: Annotated[
            str | None, Query(max_length=200, description="Model to compare with")
        ] = None,
        all_keys: Annotated[bool, Query(description="Every key's spend (admin keys only)")] = False,
    ) -> dict[str, Any]:
        """Spend per model and per day for the calling key (or every key, for an admin), and
        the saving against a reference model: what the same tokens would have cost there."""
        if all_keys and not key.is_admin:
            raise Forbidden("all_keys needs an admin key")
        last = until or dt.datetime.now(dt.UTC).date()
        first = since or last - dt.timedelta(days=30)
        if first > last:
            raise RouteError("since is after until", param="since")
        rows = repo.usage_rows(
            session, None if all_keys else key.id, first, last + dt.timedelta(days=1)
        )
        reference = reference or key.policy.reference_model
        return summarise_usage(rows, snapshot(), reference, first, last)

    return api
