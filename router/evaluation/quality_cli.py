"""`modelyard router …`: fit a quality estimator on outcome data, replay outcome data through
the real decision (`eval`), and fit the bundled estimator ahead of start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from router.core.errors import RouterError

console = Console()


def _fail(exc: RouterError) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


quality_app = typer.Typer(
    help="Learn quality estimation from outcome data and measure routing with it.",
    no_args_is_help=True,
)

OutcomeFiles = Annotated[
    list[Path],
    typer.Option(
        "--outcomes",
        help="CSV: a prompt column, and per model a score column and a '<model>|total_cost' "
        "column (several files after one --outcomes, a shell glob, or the option repeated)",
    ),
]


def _outcomes(paths: list[Path]) -> Any:
    from router.quality.outcomes import load_outcomes

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
        str,
        typer.Option(help="ability (default), task, logreg or knn (see router/quality/learned.py)"),
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
    from router.quality.learned import METHODS, fit

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
    from router.evaluation import replay
    from router.quality.learned import METHODS, LearnedQuality

    chosen = methods or list(replay.DEFAULT_METHODS)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        Console(stderr=True).print(
            f"[red]error:[/red] --method {', '.join(unknown)}: choose from {', '.join(METHODS)}"
        )
        raise typer.Exit(2)
    data = _outcomes(outcomes)
    try:
        if estimator is not None:
            report = replay.evaluate(LearnedQuality.load(estimator), data)
        else:
            with console.status("cross-validating…") as status:
                report = replay.cross_validate(
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


@quality_app.command("fit-bundled")
def fit_bundled_command(ctx: typer.Context) -> None:
    """Fit the default estimator on the outcome data shipped with modelyard, into the data
    folder, so that the first `modelyard serve` starts without fitting (make run does this)."""
    from router.quality.bundled import load_or_fit

    folder: Path = ctx.obj.settings.data_dir
    folder.mkdir(parents=True, exist_ok=True)
    with console.status("fitting the bundled quality estimator…"):
        learned = load_or_fit(folder)
    console.print(
        f"bundled estimator ({learned.method}, {len(learned.models)} models) ready in {folder}",
        highlight=False,
    )


@quality_app.command("eval-ability")
def eval_ability_command(
    ctx: typer.Context,
    folds: Annotated[int, typer.Option(min=2, help="Folds: each score is hidden once")] = 5,
    seed: Annotated[int, typer.Option(help="Shuffles the scores into folds")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Hide known benchmark scores of the catalog (k folds) and predict them with the ability
    model fitted on the rest: mean absolute error in points and rank correlation."""
    from catalog.snapshot import build_snapshot
    from router.evaluation.ability_eval import held_out
    from router.quality.benchmark_ability import observations

    with ctx.obj.transaction() as session:
        snapshot = build_snapshot(session)
    obs = observations(snapshot)
    if len(obs) < folds * 2:
        Console(stderr=True).print(
            f"[red]error:[/red] the catalog has {len(obs)} verified scores of known benchmarks: "
            "too few to hold any out (run `modelyard catalog seed`)",
            highlight=False,
        )
        raise typer.Exit(1)
    report = held_out(obs, snapshot.models, folds, seed)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    subjects = len({(o.model, o.mode) for o in obs})
    console.print(
        f"{len(obs)} verified scores of {subjects} models and modes, {folds}-fold: "
        f"{report.scores} predicted, {report.skipped} not predictable (nothing else known)",
        highlight=False,
    )
    console.print(
        f"held-out MAE {report.mae:.2f} points, Spearman {report.spearman:.3f} "
        f"(within a benchmark, mean {report.spearman_within:.3f})",
        highlight=False,
    )
    table = Table("benchmark", "held out", "MAE (points)", "Spearman")
    for name, (n, mae, rho) in report.per_benchmark.items():
        table.add_row(name, str(n), f"{mae:.2f}", "-" if rho != rho else f"{rho:.3f}")
    console.print(table)
