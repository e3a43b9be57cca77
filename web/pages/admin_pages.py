"""The admin page: keys, teams, their spend this month and the audit log, for an admin key
signed in on the Sign in page. Changes are made over the API or the command line; this page
shows them."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from router.accounts import KeyCache, KeyView, admin, audit
from router.core import Forbidden, Unauthorized
from web.pages.queries import KEY_COOKIE
from web.pages.rendering import render

AUDIT_ROWS = 200  # the newest entries shown; the API pages back through the rest


def make_router(keys: KeyCache, session_dependency: Callable[..., Any]) -> APIRouter:
    SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]
    pages = APIRouter(include_in_schema=False)

    async def admin_caller(request: Request) -> KeyView:
        secret = request.cookies.get(KEY_COOKIE)
        if not secret:
            raise Unauthorized("sign in with an admin API key first (the Sign in page)")
        key = await keys.authenticate(f"Bearer {secret}")
        if not key.is_admin:
            raise Forbidden(f"key '{key.name}' is not an admin key")
        return key

    @pages.get("/admin")
    def admin_page(
        request: Request,
        session: SessionDep,
        key: Annotated[KeyView, Depends(admin_caller)],
        action: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        entries = audit.query(session, action=action or None, limit=AUDIT_ROWS)
        context = {
            "key": key,
            "keys": admin.list_keys(session),
            "teams": admin.list_teams(session),
            "entries": [audit.entry_view(e) for e in entries],
            "action": action or "",
        }
        return render(request, "admin.html", context)

    return pages
