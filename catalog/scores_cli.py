"""`modelyard catalog scores import FILE`: a user's own benchmark scores (CSV or JSON, or the
seed's YAML shape), validated like the seed's scores files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from catalog import service
from catalog.cli import _session
from catalog.errors import SeedError
from catalog.score_files import FIELDS, read_score_file

errors = Console(stderr=True)
scores_app = typer.Typer(help="Benchmark scores with their sources.", no_args_is_help=True)


@scores_app.command("import")
def import_scores(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help=f"A .csv (columns: {', '.join(FIELDS)}), .json or .yaml list of scores"
        ),
    ],
) -> None:
    """Add or replace scores of catalog models. A file with any bad entry is refused whole,
    naming the entry and the field; a score with `verified: false` is shown, never routed on."""
    if path.suffix.lower() not in (".csv", ".json", ".yaml", ".yml"):
        errors.print(f"[red]error:[/red] {path}: give a .csv, .json or .yaml file", highlight=False)
        raise typer.Exit(2)
    try:
        entries = read_score_file(path)
    except SeedError as exc:
        errors.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(2) from exc
    with _session(ctx) as session:
        created, updated = service.import_scores(session, entries)
    unverified = sum(not e.verified for e in entries)
    note = f" ({unverified} unverified: shown, not used for routing)" if unverified else ""
    typer.echo(f"{path}: {created} score(s) added, {updated} replaced{note}")
