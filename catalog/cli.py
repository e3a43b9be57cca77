"""`modelyard catalog|models|deployments …`: the catalog from the command line.

The composition root puts an object with a `transaction()` context manager in `ctx.obj`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from catalog import repository as repo
from catalog import seeding, service
from catalog.bom import ml_bom
from catalog.errors import CatalogError
from catalog.schemas import (
    ComplianceCheckIn,
    DeploymentIn,
    DeploymentPatch,
    LicensePeriodIn,
    ModelFilters,
    ModelIn,
    ParentIn,
)
from catalog.snapshot import build_snapshot
from catalog.terms import DeploymentKind, DeploymentStatus, Privacy, Verdict

# Piped output has no terminal width; tables get room for full model ids instead of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True)

catalog_app = typer.Typer(help="Browse and seed the catalog.", no_args_is_help=True)
models_app = typer.Typer(help="Add models to the catalog.", no_args_is_help=True)
deployments_app = typer.Typer(help="Register where models run.", no_args_is_help=True)
license_app = typer.Typer(help="Which models may I use for this?", no_args_is_help=True)

T = TypeVar("T", bound=BaseModel)


class Database(Protocol):
    def transaction(self) -> AbstractContextManager[Session]: ...


@contextmanager
def _session(ctx: typer.Context) -> Iterator[Session]:
    """A transaction whose catalog errors become a red message and exit status 1."""
    database: Database = ctx.obj
    try:
        with database.transaction() as session:
            yield session
    except CatalogError as exc:
        errors.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc


def _validated(schema: type[T], values: dict[str, Any]) -> T:
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "input"
            errors.print(f"[red]error:[/red] {where}: {err['msg']}", highlight=False)
        raise typer.Exit(2) from exc


def _dump(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


def _human(count: int | None) -> str:
    if count is None:
        return "?"
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= size:
            return f"{count / size:.3g}{suffix}"
    return str(count)


def _tokens(count: int | None) -> str:
    # Context windows are powers of two in model cards: 4096 reads as 4K.
    if count is None:
        return "?"
    return f"{count / 1024:g}K" if count % 1024 == 0 else str(count)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# --- catalog ------------------------------------------------------------------------------------


@catalog_app.command("seed")
def seed(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder with licenses.yaml, models.yaml, deployments.yaml")
    ] = seeding.SEED_DIR,
) -> None:
    """Load the seed catalog (idempotent: run it as often as you like)."""
    with _session(ctx) as session:
        report = seeding.apply_seed(session, seeding.load_seed(directory), directory)
    table = Table("kind", "created", "updated", "unchanged", title="seed")
    for kind in seeding.FILES:
        table.add_row(
            kind,
            str(report.created[kind]),
            str(report.updated[kind]),
            str(report.unchanged[kind]),
        )
    console.print(table)
    console.print(f"catalog version {report.version}")


@catalog_app.command("list")
def list_models(
    ctx: typer.Context,
    q: Annotated[str | None, typer.Option(help="Text in id, name or alias")] = None,
    family: str | None = None,
    license: Annotated[str | None, typer.Option(help="Licence in force today")] = None,
    commercial: Annotated[
        bool | None, typer.Option("--commercial/--non-commercial", help="Commercial use allowed")
    ] = None,
    min_params: Annotated[str | None, typer.Option(help="e.g. 7B")] = None,
    max_params: Annotated[str | None, typer.Option(help="e.g. 14B")] = None,
    min_context: Annotated[str | None, typer.Option(help="e.g. 32K")] = None,
    local: Annotated[bool | None, typer.Option("--local/--no-local")] = None,
    hosted: Annotated[bool | None, typer.Option("--hosted/--no-hosted")] = None,
    max_price: Annotated[float | None, typer.Option(help="USD per million tokens")] = None,
    benchmark: str | None = None,
    min_score: float | None = None,
    sort: Annotated[
        str, typer.Option(help="name, params, context, release, price, score; -x desc")
    ] = "name",
    page: int = 1,
    per_page: int = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Models in the catalog, filtered and sorted like GET /api/models."""
    filters = _validated(
        ModelFilters,
        {
            k: v
            for k, v in {
                "q": q,
                "family": family,
                "license": license,
                "commercial": commercial,
                "min_params": min_params,
                "max_params": max_params,
                "min_context": min_context,
                "has_local": local,
                "has_hosted": hosted,
                "max_price": max_price,
                "benchmark": benchmark,
                "min_score": min_score,
                "sort": sort,
                "page": page,
                "per_page": per_page,
            }.items()
            if v is not None
        },
    )
    with _session(ctx) as session:
        result = service.list_models(session, filters, build_snapshot(session), _today())
    if as_json:
        _dump(result.model_dump(mode="json"))
        return
    table = Table(
        "params",
        "context",
        "licence",
        "commercial",
        "from $/Mtok",
        title=f"{result.total} models (page {result.page})",
    )
    table.add_column("model", no_wrap=True)
    for m in result.items:
        price = m.cheapest_usd_per_million_tokens
        table.add_row(
            _human(m.parameters),
            _tokens(m.context_window),
            ", ".join(m.licenses_in_force) or "?",
            m.commercial_use.value,
            "-" if price is None else f"{price:.4g}",
            m.id,
        )
    console.print(table)


@catalog_app.command("show")
def show_model(
    ctx: typer.Context, ref: str, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """One model: licence history, lineage, benchmark scores and deployments."""
    with _session(ctx) as session:
        model = service.get_model(session, ref)
        detail = service.model_detail(model, build_snapshot(session), _today())
    if as_json:
        _dump(detail.model_dump(mode="json"))
        return
    console.print(f"[bold]{detail.name}[/bold]  {detail.id}  family {detail.family}")
    console.print(
        f"parameters {_human(detail.parameters)}  context {_tokens(detail.context_window)}  "
        f"released {detail.release_date or '?'}  gated {detail.gated}  "
        f"aliases {', '.join(detail.aliases)}"
    )
    if detail.unverified_fields:
        console.print(f"[yellow]not verified:[/yellow] {', '.join(detail.unverified_fields)}")
    history = Table("licence", "from", "to", "verified", "in force", title="licence history")
    for p in detail.license_history:
        history.add_row(
            p.license_id,
            str(p.effective_from or "release"),
            str(p.effective_to or "-"),
            "yes" if p.verified else "no",
            "yes" if p.in_force_today else "",
        )
    console.print(history)
    for label, relatives in (("parents", detail.parents), ("children", detail.children)):
        if relatives:
            console.print(
                f"{label}: " + ", ".join(f"{r.id} ({r.relation.value})" for r in relatives)
            )
    if detail.scores:
        scores = Table("benchmark", "score", "setting", "source", title="benchmark scores")
        for s in detail.scores:
            source = s.source + (f" ({s.as_of})" if s.as_of else "")
            if not s.verified:
                source += " (unverified: not used for routing)"
            scores.add_row(s.benchmark, f"{s.score:g}", s.setting, source)
        console.print(scores)
    _print_deployments(detail.deployments)


# --- models -------------------------------------------------------------------------------------


def _parent(value: str) -> ParentIn:
    model, _, relation = value.partition(":")
    return _validated(ParentIn, {"model": model, "relation": relation or "finetune"})


@models_app.command("add")
def add_model(
    ctx: typer.Context,
    hf_id: Annotated[str, typer.Option("--id", help="Hugging Face id, e.g. org/name")],
    license: Annotated[str, typer.Option(help="Licence id in the catalog (see GET /api/licenses)")],
    family: Annotated[str, typer.Option(help="Model family, e.g. llama-2")],
    name: Annotated[
        str | None, typer.Option(help="Display name; default: the id's last part")
    ] = None,
    license_from: Annotated[
        str | None, typer.Option(help="Licence in force from (YYYY-MM-DD)")
    ] = None,
    params: Annotated[str | None, typer.Option(help="e.g. 7B")] = None,
    context: Annotated[str | None, typer.Option(help="e.g. 4K or 32000")] = None,
    released: Annotated[str | None, typer.Option(help="YYYY-MM-DD or YYYY-MM")] = None,
    gated: Annotated[bool | None, typer.Option("--gated/--not-gated")] = None,
    capability: Annotated[
        list[str] | None, typer.Option(help="chat, code, tools, json_mode, embeddings")
    ] = None,
    dimensions: Annotated[
        list[int] | None,
        typer.Option(help="Embedding models: a vector size it returns (its own first)"),
    ] = None,
    alias: Annotated[list[str] | None, typer.Option()] = None,
    parent: Annotated[
        list[str] | None,
        typer.Option(help="ID or ID:relation (finetune, quantized, merge, adapter)"),
    ] = None,
) -> None:
    """Add a model that is not in the catalog yet, with its licence."""
    period = _validated(LicensePeriodIn, {"license": license, "from": license_from})
    spec = _validated(
        ModelIn,
        {
            "hf_id": hf_id,
            "name": name or hf_id.rsplit("/", 1)[-1],
            "family": family,
            "parameters": params,
            "context_window": context,
            "release_date": released,
            "gated": gated,
            "capabilities": capability or [],
            "embedding_dimensions": dimensions or [],
            "aliases": alias or [],
            "licenses": [period],
            "parents": [_parent(p) for p in parent or []],
        },
    )
    with _session(ctx) as session:
        model = service.add_model(session, spec)
        console.print(f"added {model.hf_id}")


# --- deployments --------------------------------------------------------------------------------


def _key_state(deployment: Any, providers: frozenset[str] | None) -> str:
    """Whether the router can call this deployment's provider: hosted ones need a key."""
    if deployment.kind != DeploymentKind.HOSTED:
        return "not needed"
    if providers is None:
        return "unknown"
    return "configured" if deployment.provider in providers else "missing"


def _print_deployments(rows: list[Any], providers: frozenset[str] | None = None) -> None:
    if not rows:
        console.print("no deployments")
        return
    columns = ["id", "name", "model", "kind", "served name", "$/Mtok", "privacy", "status"]
    columns.append("capabilities")  # what a request may need of it (tools, json_schema…)
    table = Table(*columns, *(["key"] if providers is not None else []))
    for d in rows:
        price = d.usd_per_million_tokens
        table.add_row(
            str(d.id),
            d.name,
            d.model,
            d.kind.value,
            d.served_name if not d.base_url else f"{d.served_name} @ {d.base_url}",
            "?" if price is None else f"{price:.4g}",
            d.privacy.value,
            d.status.value,
            ", ".join(d.capabilities) or "-",
            *([_key_state(d, providers)] if providers is not None else []),
        )
    console.print(table)


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


PriceOption = Annotated[float | None, typer.Option(help="USD per token")]
CapabilitiesOption = Annotated[
    str | None,
    typer.Option(
        help="What a local server does, comma-separated: tools, parallel_tools, tool_choice, "
        "json_mode, json_schema, vision, audio, files, logprobs, n, responses_api ('' for none)"
    ),
]


def _capability_list(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text is not None else None


@deployments_app.command("add")
def add_deployment(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="Model id or alias")],
    kind: Annotated[DeploymentKind, typer.Option()],
    served_name: Annotated[str, typer.Option(help="Model name the server or litellm knows")],
    url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL (local)")] = None,
    name: Annotated[
        str | None, typer.Option(help="Unique name; default from kind and model")
    ] = None,
    provider: str | None = None,
    cost_per_hour: Annotated[
        float | None, typer.Option(help="Hardware USD per hour (local)")
    ] = None,
    tokens_per_s: Annotated[
        float | None, typer.Option(help="Measured tokens per second (local)")
    ] = None,
    input_cost: PriceOption = None,
    output_cost: PriceOption = None,
    region: str | None = None,
    privacy: Privacy | None = None,
    max_context: int | None = None,
    capabilities: CapabilitiesOption = None,
) -> None:
    """Register a deployment: your own model server, a hosted provider, or the embedded model."""
    spec = _validated(
        DeploymentIn,
        _given(
            {
                "name": name,
                "model": model,
                "kind": kind,
                "provider": provider,
                "served_name": served_name,
                "base_url": url,
                "cost_per_hour": cost_per_hour,
                "tokens_per_second": tokens_per_s,
                "input_cost_per_token": input_cost,
                "output_cost_per_token": output_cost,
                "region": region,
                "privacy": privacy,
                "max_context": max_context,
                "capabilities": _capability_list(capabilities),
            }
        ),
    )
    with _session(ctx) as session:
        view = service.deployment_view(service.add_deployment(session, spec))
    console.print(f"added deployment {view.id} '{view.name}'")
    _print_deployments([view])


@deployments_app.command("list")
def list_deployments(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Only this model's")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    with _session(ctx) as session:
        model_id = service.get_model(session, model).id if model else None
        views = [service.deployment_view(d) for d in repo.list_deployments(session, model_id)]
    # Hosted providers the composition root found a key for (None: it does not say).
    providers: frozenset[str] | None = getattr(ctx.obj, "providers", None)
    if as_json:
        _dump([{**v.model_dump(mode="json"), "key": _key_state(v, providers)} for v in views])
    else:
        _print_deployments(views, providers)


@deployments_app.command("update")
def update_deployment(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Deployment id or name")],
    served_name: str | None = None,
    url: str | None = None,
    cost_per_hour: float | None = None,
    tokens_per_s: float | None = None,
    input_cost: PriceOption = None,
    output_cost: PriceOption = None,
    region: str | None = None,
    privacy: Privacy | None = None,
    max_context: int | None = None,
    status: DeploymentStatus | None = None,
    capabilities: CapabilitiesOption = None,
) -> None:
    """Change a deployment; the result is validated as a whole."""
    patch = _validated(
        DeploymentPatch,
        _given(
            {
                "served_name": served_name,
                "base_url": url,
                "cost_per_hour": cost_per_hour,
                "tokens_per_second": tokens_per_s,
                "input_cost_per_token": input_cost,
                "output_cost_per_token": output_cost,
                "region": region,
                "privacy": privacy,
                "max_context": max_context,
                "status": status,
                "capabilities": _capability_list(capabilities),
            }
        ),
    )
    with _session(ctx) as session:
        view = service.deployment_view(service.update_deployment(session, ref, patch))
    _print_deployments([view])


@deployments_app.command("remove")
def remove_deployment(
    ctx: typer.Context, ref: Annotated[str, typer.Argument(help="Deployment id or name")]
) -> None:
    with _session(ctx) as session:
        service.remove_deployment(session, ref)
    console.print(f"removed deployment '{ref}'")


# --- licences -----------------------------------------------------------------------------------

_VERDICT_STYLE = {
    Verdict.ALLOWED: "green",
    Verdict.ALLOWED_WITH_OBLIGATIONS: "cyan",
    Verdict.NEEDS_REVIEW: "yellow",
    Verdict.FORBIDDEN: "red",
}


@license_app.command("check")
def license_check(
    ctx: typer.Context,
    models: Annotated[
        list[str] | None, typer.Argument(help="Model ids or aliases; default all")
    ] = None,
    commercial: Annotated[bool, typer.Option("--commercial", help="Commercial use")] = False,
    mau: Annotated[
        int | None, typer.Option(help="Monthly active users of your product now")
    ] = None,
    mau_at_release: Annotated[
        int | None,
        typer.Option(help="Monthly active users in the month before the licence's release"),
    ] = None,
    date: Annotated[str | None, typer.Option(help="Date of use, YYYY-MM-DD; default today")] = None,
    hosted_service: Annotated[
        bool, typer.Option("--hosted-service", help="Serve the model to others")
    ] = False,
    fine_tune: Annotated[bool, typer.Option("--fine-tune")] = False,
    redistribute: Annotated[
        bool, typer.Option("--redistribute", help="Redistribute the weights")
    ] = False,
    train_on_outputs: Annotated[
        bool, typer.Option("--train-on-outputs", help="Use outputs to improve another model")
    ] = False,
    same_family: Annotated[
        bool, typer.Option("--same-family", help="That model is of the same family")
    ] = False,
    derivative_name: Annotated[
        str | None, typer.Option(help="Name your derivative will carry")
    ] = None,
    revenue: Annotated[
        int | None, typer.Option(help="Monthly revenue of your product, USD (Kimi K2)")
    ] = None,
    affiliates_mau_at_release: Annotated[
        int | None,
        typer.Option(help="Your affiliates' users in that month (Llama 3.3 and 4 add them)"),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(help="Where you are: EU or a country code such as DE (Llama 4's EU rule)"),
    ] = None,
    end_user: Annotated[
        bool,
        typer.Option("--end-user", help="You use it only inside another company's product"),
    ] = False,
    imitate: Annotated[
        bool,
        typer.Option("--imitate", help="The model trained on outputs is to perform like it"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON")] = False,
) -> None:
    """Verdicts, obligations and reasons for a usage profile, like POST /api/compliance/check."""
    request = _validated(
        ComplianceCheckIn,
        {
            "use": _given(
                {
                    "commercial": commercial,
                    "monthly_active_users": mau,
                    "monthly_active_users_at_release": mau_at_release,
                    "date": date,
                    "hosted_service": hosted_service,
                    "fine_tune": fine_tune,
                    "redistribute_weights": redistribute,
                    "train_on_outputs": train_on_outputs,
                    "outputs_target_same_family": same_family,
                    "derivative_name": derivative_name,
                    "monthly_revenue_usd": revenue,
                    "affiliates_monthly_active_users_at_release": affiliates_mau_at_release,
                    "licensee_region": region,
                    "end_user_of_product": end_user,
                    "imitate_source_model": imitate,
                }
            ),
            "models": models or None,
        },
    )
    with _session(ctx) as session:
        report = service.check_compliance(build_snapshot(session), request)
    if as_json:
        _dump(report.model_dump(mode="json"))
        return
    table = Table("verdict", "licences", "why", title=f"licence check for {report.date}")
    table.add_column("model", no_wrap=True)
    for result in report.results:
        decisive = [r for r in result.reasons if r.verdict == result.verdict] or result.reasons
        why = "; ".join(
            f"{r.license}{' ' + r.clause if r.clause else ''}: {r.message}" for r in decisive[:2]
        )
        if result.verdict == Verdict.ALLOWED_WITH_OBLIGATIONS:
            why = "; ".join(
                f"{o.text} [{o.license}{' ' + o.clause if o.clause else ''}]"
                for o in result.obligations[:3]
            )
        if result.conflicts:
            why += "; conflict: " + "; ".join(c.message for c in result.conflicts)
        style = _VERDICT_STYLE[result.verdict]
        table.add_row(
            f"[{style}]{result.verdict.value}[/{style}]",
            ", ".join(sorted({lic.license for lic in result.licenses})),
            why,
            result.model,
        )
    console.print(table)
    console.print(", ".join(f"{v.value}: {n}" for v, n in report.summary.items()))


@catalog_app.command("bom")
def bom(
    ctx: typer.Context,
    models: Annotated[
        list[str] | None, typer.Argument(help="Model ids or aliases; default all")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout")] = None,
) -> None:
    """A CycloneDX 1.6 ML-BOM of the models (and their ancestors) with licences and lineage."""
    with _session(ctx) as session:
        snapshot = build_snapshot(session)
        chosen = (
            service.resolve_models(snapshot, models)
            if models
            else sorted(snapshot.models.values(), key=lambda m: m.hf_id)
        )
        text = ml_bom(snapshot, chosen, _today())
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {out}")
