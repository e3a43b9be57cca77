"""`modelyard catalog import hf REPO_ID...`: models from the Hugging Face Hub, with lineage."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from catalog.cli import _session
from catalog.hub_import import DEFAULT_DEPTH, ImportReport, import_from_hub

console = Console()
import_app = typer.Typer(help="Import models into the catalog.", no_args_is_help=True)


def print_report(report: ImportReport) -> None:
    table = Table("repo", "status", "note", title="Hugging Face import")
    for result in report.results:
        note = result.message
        if result.parent_of:
            note = f"ancestor of {result.parent_of}" + (f"; {note}" if note else "")
        for conflict in result.conflicts:
            note = f"{note}\nconflict: {conflict}".strip()
        style = {"failed": "red", "added": "green", "updated": "yellow"}.get(result.status, "")
        table.add_row(
            result.repo_id, f"[{style}]{result.status}[/]" if style else result.status, note
        )
    console.print(table)
    summary = report.as_dict()["summary"]
    console.print(", ".join(f"{name}: {count}" for name, count in summary.items()))


@import_app.command("hf")
def import_hf(
    ctx: typer.Context,
    repo_ids: Annotated[list[str], typer.Argument(help="Hub repo ids, e.g. acme/llama-2-7b-x")],
    depth: Annotated[
        int, typer.Option(min=0, max=10, help="How many generations of base models to import")
    ] = DEFAULT_DEPTH,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Add or refresh models from their Hub cards (licence, lineage, size, context, scores).
    Failures are reported per repo; the rest of the batch is still imported."""
    source = ctx.obj.hub()
    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=as_json,
        ) as progress,
        _session(ctx) as session,
    ):
        task = progress.add_task("importing", total=len(repo_ids))

        def step(repo_id: str) -> None:
            if repo_id in repo_ids:
                progress.advance(task)
            progress.update(task, description=f"importing {repo_id}")

        report = import_from_hub(session, source, repo_ids, depth, step)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report)
    if report.count("failed") == len(report.results):
        raise typer.Exit(1)
