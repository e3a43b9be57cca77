"""`modelyard keys …`: API keys from the command line."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from router import keys
from router.errors import RouterError
from router.schemas import KeyPolicy

console = Console()
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _fail(exc: RouterError) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {exc.message}", highlight=False)
    return typer.Exit(1)


def _policy(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
        KeyPolicy.model_validate(value)
    except (ValueError, ValidationError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] --policy: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    return dict(value)


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="A name people recognise")],
    admin: Annotated[bool, typer.Option("--admin", help="May change the catalog")] = False,
    policy: Annotated[
        str | None,
        typer.Option(
            help='Routing defaults as JSON, e.g. \'{"privacy": "local_only", "min_quality": 0.5, '
            '"use": {"commercial": true}, "reference_model": "llama-2-70b-chat"}\''
        ),
    ] = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    try:
        with ctx.obj.transaction() as session:
            key, secret = keys.create_key(session, name, admin=admin, policy=_policy(policy))
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
    with ctx.obj.transaction() as session:
        rows = keys.list_keys(session)
        table = Table("name", "prefix", "admin", "created", "revoked")
        for k in rows:
            table.add_row(
                k.name,
                k.prefix + "…",
                "yes" if k.is_admin else "",
                k.created_at.strftime("%Y-%m-%d %H:%M"),
                k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "",
            )
    console.print(table)


@keys_app.command("revoke")
def revoke(ctx: typer.Context, name: str) -> None:
    try:
        with ctx.obj.transaction() as session:
            keys.revoke_key(session, name)
    except RouterError as exc:
        raise _fail(exc) from exc
    console.print(f"revoked key '{name}'")
