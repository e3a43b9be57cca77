"""Keys, teams and the audit log over HTTP (/api/keys, /api/teams, /api/audit), admin keys
only. `web` supplies the session and the admin check, which also tells the session who is
acting, so every change here and in the catalog's admin endpoints lands in the audit log."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy.orm import Session

from router.accounts import admin, audit
from router.accounts.schemas import ExpireIn, KeyIn, KeyPatch, MemberIn, RotateIn, TeamIn, TeamPatch


def make_router(
    session_dependency: Callable[..., Any], admin_dependency: Callable[..., Any]
) -> APIRouter:
    SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]
    api = APIRouter(prefix="/api", dependencies=[Depends(admin_dependency)])

    # --- keys ----------------------------------------------------------------------------------

    @api.post("/keys", status_code=status.HTTP_201_CREATED, tags=["keys"])
    def create_key(spec: KeyIn, session: SessionDep) -> dict[str, Any]:
        """A new key. Its `secret` is in this answer only; the server keeps a hash."""
        key, secret = admin.create_key(session, spec)
        return {**admin.key_view(key), "secret": secret}

    @api.get("/keys", tags=["keys"])
    def list_keys(session: SessionDep) -> list[dict[str, Any]]:
        """Every key with its state, team and this month's spend (UTC month, from the ledger)."""
        return admin.list_keys(session)

    @api.get("/keys/{name}", tags=["keys"])
    def show_key(name: str, session: SessionDep) -> dict[str, Any]:
        return admin.key_view(admin.get_key(session, name))

    @api.patch("/keys/{name}", tags=["keys"])
    def update_key(name: str, patch: KeyPatch, session: SessionDep) -> dict[str, Any]:
        """Change the policy (replaced whole), admin scope or expiry."""
        return admin.key_view(admin.update_key(session, name, patch))

    @api.post("/keys/{name}/rotate", tags=["keys"])
    def rotate_key(name: str, session: SessionDep, body: RotateIn | None = None) -> dict[str, Any]:
        """A new secret, shown once; the old one works until `previous_valid_until`."""
        key, secret = admin.rotate_key(session, name, (body or RotateIn()).grace_seconds)
        return {**admin.key_view(key), "secret": secret}

    @api.post("/keys/{name}/expire", tags=["keys"])
    def expire_key(name: str, session: SessionDep, body: ExpireIn | None = None) -> dict[str, Any]:
        """Set when the key stops working (default: now)."""
        return admin.key_view(admin.expire_key(session, name, (body or ExpireIn()).at))

    @api.post("/keys/{name}/revoke", tags=["keys"])
    def revoke_key(name: str, session: SessionDep) -> dict[str, Any]:
        return admin.key_view(admin.revoke_key(session, name))

    # --- teams ---------------------------------------------------------------------------------

    @api.post("/teams", status_code=status.HTTP_201_CREATED, tags=["teams"])
    def create_team(spec: TeamIn, session: SessionDep) -> dict[str, Any]:
        team = admin.create_team(session, spec)
        return admin.show_team(session, team.name)

    @api.get("/teams", tags=["teams"])
    def list_teams(session: SessionDep) -> list[dict[str, Any]]:
        """Every team with its budgets, members and this month's spend."""
        return admin.list_teams(session)

    @api.get("/teams/{name}", tags=["teams"])
    def show_team(name: str, session: SessionDep) -> dict[str, Any]:
        return admin.show_team(session, name)

    @api.patch("/teams/{name}", tags=["teams"])
    def update_team(name: str, patch: TeamPatch, session: SessionDep) -> dict[str, Any]:
        admin.update_team(session, name, patch)
        return admin.show_team(session, name)

    @api.delete("/teams/{name}", status_code=status.HTTP_204_NO_CONTENT, tags=["teams"])
    def delete_team(name: str, session: SessionDep) -> Response:
        admin.delete_team(session, name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.post("/teams/{name}/members", tags=["teams"])
    def add_member(name: str, body: MemberIn, session: SessionDep) -> dict[str, Any]:
        """The key joins the team: it spends from the team's budgets (a key has one team)."""
        admin.add_member(session, name, body.key)
        return admin.show_team(session, name)

    @api.delete("/teams/{name}/members/{key}", tags=["teams"])
    def remove_member(name: str, key: str, session: SessionDep) -> dict[str, Any]:
        admin.remove_member(session, name, key)
        return admin.show_team(session, name)

    # --- audit ---------------------------------------------------------------------------------

    @api.get("/audit", tags=["audit"])
    def audit_log(
        session: SessionDep,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        action: Annotated[
            str | None, Query(max_length=64, description="e.g. key (every key action), key.rotate")
        ] = None,
        target: Annotated[str | None, Query(max_length=300)] = None,
        request_id: Annotated[str | None, Query(max_length=64)] = None,
        before_id: Annotated[
            int | None, Query(ge=1, le=2**31 - 1, description="Older than this entry")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Admin actions, newest first. Entries are never changed or removed."""
        entries = audit.query(
            session,
            actor=actor,
            action=action,
            target=target,
            request_id=request_id,
            before_id=before_id,
            limit=limit,
        )
        return {
            "entries": [audit.entry_view(e) for e in entries],
            "next_before_id": entries[-1].id if len(entries) == limit else None,
        }

    return api
