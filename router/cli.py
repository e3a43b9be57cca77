"""`modelyard keys …`: API keys from the command line."""

from __future__ import annotations

import json
from pathlib import Path
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
    Console(stderr=True).print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
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


quality_app = typer.Typer(
    help="Learn quality estimation from outcome data and measure routing with it.",
    no_args_is_help=True,
)

OutcomeFiles = Annotated[
    list[Path],
    typer.Option(
        "--outcomes",
        help="CSV: a prompt column, and per model a score column and a '<model>|total_cost' "
        "column (repeat the option for several files)",
    ),
]


def _outcomes(paths: list[Path]) -> Any:
    from router.outcomes import load_outcomes

    try:
        return load_outcomes(paths)
    except RouterError as exc:
        raise _fail(exc) from exc


def _names(pairs: list[str]) -> dict[str, str]:
    names = {}
    for pair in pairs:
        name, sep, target = pair.partition("=")
        if not sep or not name.strip() or not target.strip():
            Console(stderr=True).print(
                f"[red]error:[/red] --map takes OUTCOME_NAME=CATALOG_ID, got {pair!r}",
                highlight=False,
            )
            raise typer.Exit(2)
        names[name.strip()] = target.strip()
    return names


@quality_app.command("fit")
def fit_command(
    outcomes: OutcomeFiles,
    out: Annotated[Path, typer.Option(help="Where to write the estimator (.npz)")],
    method: Annotated[
        str, typer.Option(help="ability (default), task, logreg or knn (see router/learned.py)")
    ] = "ability",
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="OUTCOME_NAME=CATALOG_ID: which catalog model an outcome column measures "
            "(added to the built-in RouterBench names)",
        ),
    ] = None,
) -> None:
    """Train a learned quality estimator; point MODELYARD_QUALITY_ESTIMATOR at the file."""
    from router.learned import METHODS, fit

    if method not in METHODS:
        Console(stderr=True).print(f"[red]error:[/red] --method: choose {' or '.join(METHODS)}")
        raise typer.Exit(2)
    data = _outcomes(outcomes)
    with console.status(f"fitting {method} on {len(data)} prompts…"):
        learned = fit(data, method, _names(mapping or []), [str(p) for p in outcomes])
        try:
            learned.save(out)
        except OSError as exc:
            raise _fail(RouterError(f"{out}: cannot be written ({exc.strerror})")) from exc
    console.print(
        f"fitted {method} on {len(data)} prompts and {len(data.models)} models → {out}",
        highlight=False,
    )
    for name in data.models:
        target = learned.names.get(name)
        console.print(f"  {name}" + (f" → {target}" if target else " (evaluation only)"))


def _print_report(report: dict[str, Any]) -> None:
    best = report["best_model"]
    repeats = report.get("repeats", 1)
    console.print(
        f"{report['prompts']} held-out prompts"
        + (f" ({report['folds']}-fold cross-validation)" if "folds" in report else "")
        + (f", repeated {repeats} times: means with 95% intervals" if repeats > 1 else "")
        + f"; best single model {best['name']}: accuracy {best['accuracy']:.3f} for "
        f"${best['cost_usd']:.4f}",
        highlight=False,
    )
    table = Table(title="cost as a fraction of the best single model's")
    table.add_column("router", no_wrap=True)
    for heading in ("max accuracy", "cost to reach best", "cost at 95% of best", "AIQ"):
        table.add_column(heading, justify="right")

    def show(row: dict[str, Any], figure: str, percent: bool) -> str:
        value, ci = row[figure], row.get(f"{figure}_ci")
        if value is None:
            reached = row.get(f"{figure}_reached")
            return "not reached" + (f" ({reached})" if reached else "")
        text = f"{value:.1%}" if percent else f"{value:.3f}"
        if ci:
            low, high = ci
            text += f" [{low:.1%}, {high:.1%}]" if percent else f" [{low:.3f}, {high:.3f}]"
        return text

    for row in report["routers"] + report["baselines"]:
        table.add_row(
            row["name"],
            show(row, "max_accuracy", False),
            show(row, "cost_at_best_accuracy", True),
            show(row, "cost_at_95pct_of_best", True),
            show(row, "aiq", False),
        )
    console.print(table)


@quality_app.command("eval")
def eval_command(
    outcomes: OutcomeFiles,
    estimator: Annotated[
        Path | None,
        typer.Option(help="A fitted estimator; without it, cross-validate on the files"),
    ] = None,
    folds: Annotated[int, typer.Option(min=2, help="Folds when cross-validating")] = 5,
    repeats: Annotated[
        int,
        typer.Option(min=1, help="Cross-validations on new random folds, for 95% intervals"),
    ] = 3,
    methods: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            help="Estimators to cross-validate (repeat the option); default: ability and the "
            "two baselines, task and logreg",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Replay held-out prompts through the real decision and print the accuracy/cost curve."""
    from router import evaluation
    from router.learned import METHODS, LearnedQuality

    chosen = methods or list(evaluation.DEFAULT_METHODS)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        Console(stderr=True).print(
            f"[red]error:[/red] --method {', '.join(unknown)}: choose from {', '.join(METHODS)}"
        )
        raise typer.Exit(2)
    data = _outcomes(outcomes)
    try:
        if estimator is not None:
            report = evaluation.evaluate(LearnedQuality.load(estimator), data)
        else:
            with console.status("cross-validating…") as status:
                report = evaluation.cross_validate(
                    data,
                    folds,
                    methods=chosen,  # type: ignore[arg-type]  # checked against METHODS above
                    progress=lambda step: status.update(step),
                    repeats=repeats,
                )
    except RouterError as exc:
        raise _fail(exc) from exc
    except ValueError as exc:
        raise _fail(RouterError(str(exc))) from exc
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)
