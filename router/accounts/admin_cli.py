"""`modelyard keys …`, `modelyard teams …` and `modelyard audit …`: API keys, teams and the
audit log from the command line."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from router.accounts import admin, audit, keys
from router.accounts.policy import KeyPolicy, TeamPolicy
from router.accounts.schemas import MAX_GRACE_SECONDS, KeyIn, KeyPatch, TeamIn, TeamPatch
from router.core.errors import KeyNotFound, RouterError

T = TypeVar("T", bound=BaseModel)
console = Console()
keys_app = typer.Typer(
    help="Create, list, show, update, rotate, expire and revoke API keys.", no_args_is_help=True
)


def _fail(exc: RouterError) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _policy(text: str | None, shape: type[BaseModel] = KeyPolicy) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
        shape.model_validate(value)
    except (ValueError, ValidationError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] --policy: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    return dict(value)


def _when(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {option}: not an ISO date or time: {text}")
        raise typer.Exit(2) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _checked(model: type[T], values: dict[str, Any]) -> T:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        Console(stderr=True).print(f"[red]error:[/red] {where}: {first['msg']}", highlight=False)
        raise typer.Exit(2) from exc


def _show(view: dict[str, Any]) -> None:
    console.print_json(json.dumps(view))


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="A name people recognise")],
    admin_scope: Annotated[bool, typer.Option("--admin", help="May change the catalog")] = False,
    policy: Annotated[
        str | None,
        typer.Option(
            help='Limits and defaults as JSON, e.g. \'{"privacy": "local_only", "min_quality": '
            '0.5, "use": {"commercial": true}, "models": ["phi-2"]}\' (requests may narrow '
            "the limits, never widen them)"
        ),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires-at", help="When it stops working (ISO, UTC)")
    ] = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    spec = _checked(
        KeyIn,
        {
            "name": name,
            "admin": admin_scope,
            "policy": _policy(policy) or None,
            "expires_at": _when(expires, "--expires-at"),
        },
    )
    try:
        with ctx.obj.transaction() as session:
            key, secret = admin.create_key(session, spec)
            role = "admin" if key.is_admin else "user"
    except RouterError as exc:
        raise _fail(exc) from exc
    console.print(f"created {role} key '{name}'. Keep it now; it is not shown again:")
    console.print(secret, highlight=False, soft_wrap=True)


DEV_KEY = "local-dev"


@keys_app.command("dev")
def dev(ctx: typer.Context) -> None:
    """Replace the local development key (an admin key named local-dev) and print it."""
    with ctx.obj.transaction() as session:
        keys.delete_key(session, DEV_KEY)
        _key, secret = keys.create_key(session, DEV_KEY, admin=True)
    console.print(f"local development key (admin): {secret}", highlight=False, soft_wrap=True)


@keys_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """Every key with its state, team and this month's spend."""
    with ctx.obj.transaction() as session:
        rows = admin.list_keys(session)
    table = Table("name", "prefix", "admin", "team", "state", "expires", "spent this month")
    for k in rows:
        table.add_row(
            k["name"],
            k["prefix"] + "…",
            "yes" if k["admin"] else "",
            k["team"] or "",
            k["state"],
            (k["expires_at"] or "")[:16],
            f"${Decimal(k['spend_usd_this_month']):.4f}",
        )
    console.print(table)


@keys_app.command("show")
def show(ctx: typer.Context, name: str) -> None:
    try:
        with ctx.obj.transaction() as session:
            view = admin.key_view(admin.get_key(session, name))
    except RouterError as exc:
        raise _fail(exc) from exc
    _show(view)


@keys_app.command("update")
def update(
    ctx: typer.Context,
    name: str,
    policy: Annotated[str | None, typer.Option(help="The new policy as JSON (replaces it)")] = None,
    expires: Annotated[str | None, typer.Option("--expires-at", help="ISO time, UTC")] = None,
) -> None:
    """Replace a key's policy or set its expiry."""
    values: dict[str, Any] = {}
    if policy is not None:
        values["policy"] = _policy(policy)
    if expires is not None:
        values["expires_at"] = _when(expires, "--expires-at")
    patch = _checked(KeyPatch, values)
    try:
        with ctx.obj.transaction() as session:
            view = admin.key_view(admin.update_key(session, name, patch))
    except RouterError as exc:
        raise _fail(exc) from exc
    _show(view)


@keys_app.command("rotate")
def rotate(
    ctx: typer.Context,
    name: str,
    grace: Annotated[
        int, typer.Option(min=0, max=MAX_GRACE_SECONDS, help="Seconds the old secret still works")
    ] = 3600,
) -> None:
    """A new secret for the key, printed once; the old one works for --grace seconds."""
    try:
        with ctx.obj.transaction() as session:
            key, secret = admin.rotate_key(session, name, grace)
            until = key.previous_valid_until
    except RouterError as exc:
        raise _fail(exc) from exc
    console.print(
        f"rotated key '{name}'"
        + (f"; the old secret works until {until:%Y-%m-%d %H:%M:%S} UTC" if until else "")
        + ". The new secret, shown once:"
    )
    console.print(secret, highlight=False, soft_wrap=True)


@keys_app.command("expire")
def expire(
    ctx: typer.Context,
    name: str,
    at: Annotated[str | None, typer.Option(help="ISO time, UTC; default now")] = None,
) -> None:
    """Set when a key stops working."""
    try:
        with ctx.obj.transaction() as session:
            admin.expire_key(session, name, _when(at, "--at"))
    except RouterError as exc:
        raise _fail(exc) from exc
    console.print(f"key '{name}' expires {at or 'now'}")


@keys_app.command("revoke")
def revoke(ctx: typer.Context, name: str) -> None:
    try:
        with ctx.obj.transaction() as session:
            admin.revoke_key(session, name)
    except RouterError as exc:
        raise _fail(exc) from exc
    console.print(f"revoked key '{name}'")


@keys_app.command("unpin-embeddings")
def unpin_embeddings(ctx: typer.Context, name: str) -> None:
    """Forget the model a key's `auto` embeddings were pinned to; its next request chooses
    again. Vectors stored from the old model no longer compare with the new ones."""
    from router.accounts import repository

    with ctx.obj.transaction() as session:
        key = repository.key_by_name(session, name)
        if key is None:
            raise _fail(KeyNotFound(f"no key named '{name}'"))
        cleared = repository.clear_embedding_pin(session, key.id)
    console.print(
        f"key '{name}': embeddings pin cleared (every replica follows within 10 s)"
        if cleared
        else f"key '{name}' had no embeddings pin"
    )


teams_app = typer.Typer(help="Teams: keys that share budgets and a policy.", no_args_is_help=True)
TEAM_POLICY_HELP = (
    'The team\'s limits and defaults as JSON, e.g. \'{"models": ["phi-2"], "privacy": '
    '"local_only"}\': every key of the team may narrow its limits, never widen them'
)


@teams_app.command("create")
def team_create(
    ctx: typer.Context,
    name: str,
    per_day: Annotated[float | None, typer.Option("--usd-per-day")] = None,
    per_month: Annotated[float | None, typer.Option("--usd-per-month")] = None,
    policy: Annotated[str | None, typer.Option(help=TEAM_POLICY_HELP)] = None,
) -> None:
    spec = _checked(
        TeamIn,
        {
            "name": name,
            "budget_usd_per_day": per_day,
            "budget_usd_per_month": per_month,
            "policy": _policy(policy, TeamPolicy) or None,
        },
    )
    try:
        with ctx.obj.transaction() as session:
            admin.create_team(session, spec)
    except RouterError as exc:
        raise _fail(exc) from exc
    console.print(f"created team '{name}'")


@teams_app.command("list")
def team_list(ctx: typer.Context) -> None:
    with ctx.obj.transaction() as session:
        rows = admin.list_teams(session)
    table = Table("team", "$/day", "$/month", "policy", "members", "spent this month")
    for t in rows:
        table.add_row(
            t["name"],
            "" if t["budget_usd_per_day"] is None else f"{t['budget_usd_per_day']:g}",
            "" if t["budget_usd_per_month"] is None else f"{t['budget_usd_per_month']:g}",
            json.dumps(t["policy"]) if t["policy"] else "",
            ", ".join(t["members"]),
            f"${Decimal(t['spend_usd_this_month']):.4f}",
        )
    console.print(table)


@teams_app.command("update")
def team_update(
    ctx: typer.Context,
    name: str,
    per_day: Annotated[float | None, typer.Option("--usd-per-day")] = None,
    per_month: Annotated[float | None, typer.Option("--usd-per-month")] = None,
    policy: Annotated[
        str | None, typer.Option(help=TEAM_POLICY_HELP + " (replaces it; '{}' clears it)")
    ] = None,
) -> None:
    values: dict[str, Any] = {"budget_usd_per_day": per_day, "budget_usd_per_month": per_month}
    if policy is not None:
        values["policy"] = _policy(policy, TeamPolicy)
    patch = _checked(TeamPatch, {k: v for k, v in values.items() if v is not None})
    try:
        with ctx.obj.transaction() as session:
            admin.update_team(session, name, patch)
    except RouterError as exc:
        raise _fail(exc) from exc
    console.print(f"updated team '{name}'")


@teams_app.command("add-member")
def team_add(ctx: typer.Context, name: str, key: str) -> None:
    try:
        with ctx.obj.transaction() as session:
            admin.add_member(session, name, key)
    except RouterError as exc:
        raise _fail(exc) from exc
    console.print(f"key '{key}' joined team '{name}'")


@teams_app.command("remove-member")
def team_remove(ctx: typer.Context, name: str, key: str) -> None:
    try:
        with ctx.obj.transaction() as session:
            admin.remove_member(session, name, key)
    except RouterError as exc:
        raise _fail(exc) from exc
    console.print(f"key '{key}' left team '{name}'")


@teams_app.command("delete")
def team_delete(ctx: typer.Context, name: str) -> None:
    try:
        with ctx.obj.transaction() as session:
            admin.delete_team(session, name)
    except RouterError as exc:
        raise _fail(exc) from exc
    console.print(f"deleted team '{name}'")


audit_app = typer.Typer(help="The admin audit log.", no_args_is_help=True)


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    action: Annotated[str | None, typer.Option(help="e.g. key, or key.rotate")] = None,
    target: str | None = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Admin actions, newest first."""
    with ctx.obj.transaction() as session:
        rows = [
            audit.entry_view(e)
            for e in audit.query(session, action=action, target=target, limit=limit)
        ]
    table = Table("when", "who", "action", "target", "request")
    for e in rows:
        table.add_row(e["at"][:19], e["actor"], e["action"], e["target"], e["request_id"] or "")
    console.print(table)
