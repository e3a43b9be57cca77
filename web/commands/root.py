"""The `modelyard` command: the composition root for the command line. Each domain package
owns its sub-commands (catalog/cli.py, router/accounts/admin_cli.py,
router/evaluation/quality_cli.py); this module mounts them beside `serve`, `db` and `doctor`."""

from __future__ import annotations

import functools
import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from catalog import cli as catalog_cli
from catalog import hub_cli, scores_cli
from catalog.db import transaction
from router.accounts import admin_cli
from router.evaluation import quality_cli
from web.commands.group import ModelyardGroup
from web.migrations import alembic_config
from web.settings import Settings

if TYPE_CHECKING:
    from catalog.hub import HubClient

app = typer.Typer(
    name="modelyard",
    cls=ModelyardGroup,  # environment problems as one sentence; `--outcomes a.csv b.csv`
    help="Catalog of open models, licence checks, and a cost-aware OpenAI-compatible router.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals could hold keys and prompts
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


class Runtime:
    """Settings plus a lazily opened database, handed to sub-commands through ctx.obj."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @functools.cached_property
    def sessions(self) -> sessionmaker[Session]:
        from web.app import session_factory_for

        return session_factory_for(self.settings)[1]

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        from router.accounts import audit

        with transaction(self.sessions) as session:
            # Changes made from the command line are audited as the operator's.
            audit.attach(session, audit.AuditContext(f"cli:{getpass.getuser()}"))
            yield session

    @functools.cached_property
    def providers(self) -> frozenset[str]:
        """Hosted providers with a key configured (`deployments list` shows it)."""
        return self.settings.configured_providers()

    def hub(self) -> HubClient:
        from catalog.hub import HubClient

        return HubClient(self.settings.hf_endpoint, self.settings.hf_token_value())


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show the traceback behind an error (so does MODELYARD_LOG_LEVEL=debug)",
        ),
    ] = False,
) -> None:
    ctx.obj = Runtime(Settings())


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default: MODELYARD_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Default: MODELYARD_PORT or 8000")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes serving the one port. Default: MODELYARD_WORKERS, else one per core "
            "when MODELYARD_REDIS_URL is set (workers share limits, budgets, health and the "
            "ledger through it), else 1",
        ),
    ] = None,
) -> None:
    """Serve the API and pages."""
    # WordLlama's tokenizer spreads each batch over a thread pool whose threads spin while they
    # wait; in a server already busy with HTTP that spinning cost ~2 ms of CPU per batch of 64
    # (tests/perf/test_embeddings_perf.py). Set it to "true" to have the pool back.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from web.commands import serving
    from web.commands.logs import log_config
    from web.commands.startup import check_before_serving

    settings: Settings = ctx.obj.settings
    try:
        count = serving.worker_count(workers, settings)
    except serving.WorkersNeedRedis as exc:
        raise typer.BadParameter(str(exc), param_hint="--workers") from exc
    for warning in check_before_serving(settings):
        typer.echo(f"warning: {warning}", err=True)
    serving.run(
        settings,
        host or settings.host,
        port or settings.port,
        count,
        log_config(settings.log_level, settings.log_format),
    )


@db_app.command("upgrade")
def upgrade(ctx: typer.Context, revision: str = "head") -> None:
    """Migrate the database schema (creates the SQLite file on first run)."""
    from alembic import command

    from catalog.db import make_engine

    settings: Settings = ctx.obj.settings
    make_engine(settings.database_url).dispose()  # creates the SQLite folder when needed
    command.upgrade(alembic_config(settings.database_url), revision)
    typer.echo(f"database at {revision}: {settings.database_url.split('@')[-1]}")


@app.command()
def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts")] = False,
    probe: Annotated[
        bool,
        typer.Option(help="Load the embedded model and measure its tokens/s for two seconds"),
    ] = True,
) -> None:
    """Check the install: settings, database, catalog, models, Redis, servers, keys, disk.
    Exits 1 when something is broken."""
    from web.commands import doctor as checks

    report = checks.diagnose(ctx.obj.settings, probe_seconds=2.0 if probe else 0.0)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        checks.print_report(report)
    if not report.ok:
        raise typer.Exit(1)


app.add_typer(db_app, name="db")
catalog_cli.catalog_app.add_typer(hub_cli.import_app, name="import")
catalog_cli.catalog_app.add_typer(scores_cli.scores_app, name="scores")
app.add_typer(catalog_cli.catalog_app, name="catalog")
app.add_typer(catalog_cli.models_app, name="models")
app.add_typer(catalog_cli.deployments_app, name="deployments")
app.add_typer(catalog_cli.license_app, name="license")
app.add_typer(admin_cli.keys_app, name="keys")
app.add_typer(admin_cli.teams_app, name="teams")
app.add_typer(admin_cli.audit_app, name="audit")
app.add_typer(quality_cli.quality_app, name="router")


def main() -> None:
    app()
