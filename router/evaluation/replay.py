"""Replaying outcome data through the real decision: how much accuracy a quality estimator buys
for how much money.

Each held-out prompt goes through `decide()` over a catalog made of the outcome file's
models, priced by the cost model learned at fit time (never the file's cost columns). The
realised accuracy and cost of the chosen model come from the file. Two sweeps:

- `min_quality`: strategy `cheapest` with a quality need from 0 to 1. A prompt no model is
  predicted to meet is sent with strategy `best` instead, as a caller would after the 400.
- `balanced`: strategy `balanced` over a range of `quality_value_usd`.

Figures (RouterBench's): the cost to reach the best single model's accuracy and 95% of it,
as fractions of that model's cost, and AIQ — the mean accuracy over budgets from the
cheapest to the best single model's cost, on the upper convex hull of the router's points
(mixing two settings reaches any point between them); a budget it cannot meet counts as 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from catalog.snapshot import (
    CatalogSnapshot,
    DeploymentView,
    LicensePeriod,
    LicenseTerms,
    ModelView,
)
from catalog.terms import (
    CommercialUse,
    DeploymentKind,
    DeploymentStatus,
    OutputsUse,
    Privacy,
    UserThresholdMeasure,
)
from router.core.requests import RouteControls
from router.quality.estimators import CatalogQualityEstimator
from router.quality.learned import (
    LearnedQuality,
    LearnedQualityEstimator,
    Method,
    completion_cost_per_token,
    fit,
)
from router.quality.outcomes import Outcomes
from router.routing.decision import RouteRequest, decide

# Each setting replays every prompt through decide(): 26 + 36 settings keep a 5-fold run of
# both methods on the 2,205 shared prompts near a minute.
QUALITY_NEEDS = tuple(round(x, 2) for x in np.linspace(0.0, 1.0, 26))
QUALITY_VALUES_USD = tuple(float(v) for v in np.logspace(-6, 1, 36))

# The evaluation measures quality and cost, not licences: every outcome model is treated as
# licensed for the replay.
_REPLAY_LICENSE = LicenseTerms(
    id="outcome-replay",
    name="outcome replay (evaluation only)",
    version=None,
    released=None,
    commercial_use=CommercialUse.ALLOWED,
    commercial_condition=None,
    user_threshold=None,
    user_threshold_measure=UserThresholdMeasure.NONE,
    research_only=False,
    permitted_use_note=None,
    hosting_condition=None,
    attribution_text=None,
    notice_text=None,
    ship_license_copy=False,
    redistribution_conditions=(),
    derivative_terms=None,
    outputs_to_improve_models=OutputsUse.ALLOWED,
    outputs_condition=None,
    outputs_same_family_exception=False,
    acceptable_use_policy=False,
    acceptable_use_policy_url=None,
    naming_rule=None,
    naming_prefix=None,
    source_url=None,
    spdx_id=None,
    verified=True,
    unverified_terms=frozenset(),
    clauses=(),
)


def replay_snapshot(learned: LearnedQuality) -> CatalogSnapshot:
    """The outcome file's models as a catalog, one deployment each at the learned prices."""
    period = LicensePeriod(_REPLAY_LICENSE, None, None, True, None)
    models = {}
    for i, name in enumerate(learned.models):
        deployment = DeploymentView(
            id=i + 1,
            name=f"replay/{name}",
            kind=DeploymentKind.HOSTED,
            provider="replay",
            served_name=name,
            base_url=None,
            input_cost_per_token=float(learned.cost_per_token[i]),
            output_cost_per_token=completion_cost_per_token(float(learned.cost_fixed[i])),
            tokens_per_second=None,
            privacy=Privacy.EXTERNAL,
            max_context=None,
            status=DeploymentStatus.ACTIVE,
        )
        models[name] = ModelView(
            id=i + 1,
            hf_id=name,
            name=name,
            family="replay",
            parameters=None,
            context_window=None,
            release_date=None,
            capabilities=("chat",),
            periods=(period,),
            parents=(),
            deployments=(deployment,),
        )
    return CatalogSnapshot(
        version=0,
        models=MappingProxyType(models),
        aliases=MappingProxyType({name.lower(): name for name in models}),
        licenses=MappingProxyType({_REPLAY_LICENSE.id: _REPLAY_LICENSE}),
        built_at=dt.datetime.now(dt.UTC),
    )


@dataclass
class Point:
    setting: str
    cost: float  # USD over the whole evaluation set
    correct: float  # sum of scores of the chosen answers
    prompts: int
    fallbacks: int = 0  # prompts no model was predicted to meet (sent to the best instead)

    @property
    def accuracy(self) -> float:
        return self.correct / self.prompts if self.prompts else 0.0

    def __iadd__(self, other: Point) -> Point:
        self.cost += other.cost
        self.correct += other.correct
        self.prompts += other.prompts
        self.fallbacks += other.fallbacks
        return self


@dataclass
class Curve:
    name: str
    points: list[Point] = field(default_factory=list)

    def add(self, other: Curve) -> None:
        if not self.points:
            self.points = [Point(p.setting, 0.0, 0.0, 0) for p in other.points]
        for mine, theirs in zip(self.points, other.points, strict=True):
            mine += theirs


def _chooser(
    learned: LearnedQuality, snapshot: CatalogSnapshot
) -> Callable[[str, RouteControls], tuple[int, bool]]:
    estimator = LearnedQualityEstimator(learned, CatalogQualityEstimator(), "learned")
    column = {name: i for i, name in enumerate(learned.models)}

    def choose(prompt: str, controls: RouteControls) -> tuple[int, bool]:
        request = RouteRequest("auto", prompt, 1, None, frozenset(), controls)
        decision = decide(request, snapshot, estimator)
        if decision.candidates:
            return column[decision.candidates[0].model.hf_id], False
        relaxed = RouteRequest("auto", prompt, 1, None, frozenset(), RouteControls(strategy="best"))
        return column[decide(relaxed, snapshot, estimator).candidates[0].model.hf_id], True

    return choose


def replay(learned: LearnedQuality, held_out: Outcomes, label: str) -> list[Curve]:
    """Both sweeps of `learned` over `held_out`, through `decide()`."""
    if held_out.models != learned.models:
        missing = sorted(set(learned.models) - set(held_out.models))
        if missing:
            raise ValueError(f"the outcome files lack the estimator's models: {missing}")
        held_out = _align(held_out, learned.models)
    choose = _chooser(learned, replay_snapshot(learned))
    sweeps: list[tuple[str, list[tuple[str, RouteControls]]]] = [
        (
            f"{label} min_quality",
            [(f"min_quality={q:.2f}", RouteControls(min_quality=q)) for q in QUALITY_NEEDS],
        ),
        (
            f"{label} balanced",
            [
                (
                    f"quality_value_usd={v:.2g}",
                    RouteControls(strategy="balanced", quality_value_usd=v),
                )
                for v in QUALITY_VALUES_USD
            ],
        ),
    ]
    curves = []
    for name, settings in sweeps:
        curve = Curve(name, [Point(setting, 0.0, 0.0, 0) for setting, _ in settings])
        for row, prompt in enumerate(held_out.prompts):
            for point, (_, controls) in zip(curve.points, settings, strict=True):
                chosen, fell_back = choose(prompt, controls)
                point += Point(
                    point.setting,
                    float(held_out.costs[row, chosen]),
                    float(held_out.scores[row, chosen]),
                    1,
                    int(fell_back),
                )
        curves.append(curve)
    return curves


def _align(outcomes: Outcomes, models: Sequence[str]) -> Outcomes:
    columns = [outcomes.models.index(m) for m in models]
    return Outcomes(
        tuple(models),
        outcomes.prompts,
        outcomes.tasks,
        outcomes.ids,
        outcomes.scores[:, columns],
        outcomes.costs[:, columns],
    )


def baselines(held_out: Outcomes, per_task: dict[str, str]) -> list[Curve]:
    """Single models (always the same one) and the per-task best model."""
    curves = [
        Curve(
            f"always {model}",
            [
                Point(
                    "",
                    float(held_out.costs[:, j].sum()),
                    float(held_out.scores[:, j].sum()),
                    len(held_out),
                )
            ],
        )
        for j, model in enumerate(held_out.models)
    ]
    fallback = held_out.models[int(np.argmax(held_out.scores.mean(axis=0)))]
    chosen = [held_out.models.index(per_task.get(t, fallback)) for t in held_out.tasks]
    rows = np.arange(len(held_out))
    curves.append(
        Curve(
            "per-task best model",
            [
                Point(
                    "",
                    float(held_out.costs[rows, chosen].sum()),
                    float(held_out.scores[rows, chosen].sum()),
                    len(held_out),
                )
            ],
        )
    )
    return curves


def _hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Upper convex hull of (cost, accuracy), made non-decreasing."""
    hull: list[tuple[float, float]] = []
    for x, y in sorted(points):
        if hull and y <= hull[-1][1]:
            continue  # costs more, answers no better
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (y - y1) >= (y2 - y1) * (x - x1):
                hull.pop()  # the middle point lies under the line from x1 to x
            else:
                break
        hull.append((x, y))
    return hull


def aiq(points: list[tuple[float, float]], low: float, high: float) -> float:
    """Mean accuracy over budgets in [low, high] on the hull; unmet budgets count 0."""
    hull = _hull(points)
    if not hull or high <= low:
        return 0.0
    grid = np.linspace(low, high, 2001)
    xs = np.array([x for x, _ in hull])
    ys = np.array([y for _, y in hull])
    values = np.interp(grid, xs, ys, left=0.0, right=ys[-1])
    values[grid < xs[0]] = 0.0
    return float(np.trapezoid(values, grid) / (high - low))


def summarise(curves: list[Curve], base: list[Curve]) -> dict[str, Any]:
    singles = [c for c in base if c.name.startswith("always ")]
    best = max(singles, key=lambda c: c.points[0].accuracy).points[0]
    best_name = max(singles, key=lambda c: c.points[0].accuracy).name.removeprefix("always ")
    cheapest = min(singles, key=lambda c: c.points[0].cost).points[0]

    def cost_fraction(curve: Curve, target: float) -> float | None:
        costs = [p.cost for p in curve.points if p.accuracy >= target - 1e-12]
        return round(min(costs) / best.cost, 4) if costs and best.cost > 0 else None

    def describe(curve: Curve) -> dict[str, Any]:
        xy = [(p.cost, p.accuracy) for p in curve.points]
        return {
            "name": curve.name,
            "max_accuracy": round(max(p.accuracy for p in curve.points), 4),
            "cost_at_best_accuracy": cost_fraction(curve, best.accuracy),
            "cost_at_95pct_of_best": cost_fraction(curve, 0.95 * best.accuracy),
            "aiq": round(aiq(xy, cheapest.cost, best.cost), 4),
            "points": [
                {
                    "setting": p.setting,
                    "accuracy": round(p.accuracy, 4),
                    "cost_usd": round(p.cost, 6),
                    "cost_fraction": round(p.cost / best.cost, 4) if best.cost else None,
                    "fallbacks": p.fallbacks,
                }
                for p in curve.points
            ],
        }

    return {
        "prompts": best.prompts,
        "best_model": {
            "name": best_name,
            "accuracy": round(best.accuracy, 4),
            "cost_usd": round(best.cost, 6),
        },
        "routers": [describe(c) for c in curves],
        "baselines": [describe(c) for c in base],
    }


def evaluate(learned: LearnedQuality, held_out: Outcomes) -> dict[str, Any]:
    """One fitted estimator on held-out prompts."""
    held_out = _align(held_out, learned.models) if held_out.models != learned.models else held_out
    per_task = learned.meta.get("task_best") or {}
    label = LABELS.get(learned.method, learned.method)
    return summarise(replay(learned, held_out, label), baselines(held_out, per_task))


# The router's method and the two baselines it must beat, judged on one scale.
DEFAULT_METHODS: tuple[Method, ...] = ("ability", "task", "logreg")
LABELS = {"task": "task prior [baseline]", "logreg": "tf-idf logreg [baseline]"}
FIGURES = ("max_accuracy", "cost_at_best_accuracy", "cost_at_95pct_of_best", "aiq")


def _one_cross_validation(
    outcomes: Outcomes,
    folds: int,
    methods: Sequence[Method],
    seed: int,
    progress: Callable[[str], None] | None,
) -> dict[str, Any]:
    order = np.random.default_rng(seed).permutation(len(outcomes))
    parts = np.array_split(order, folds)
    curves: dict[str, Curve] = {}
    base: dict[str, Curve] = {}
    for k, test_rows in enumerate(parts):
        train_rows = np.concatenate([p for i, p in enumerate(parts) if i != k])
        train, held_out = outcomes.subset(train_rows), outcomes.subset(test_rows)
        for method in methods:
            if progress:
                progress(f"seed {seed}, fold {k + 1}/{folds}: {method}")
            learned = fit(train, method)
            for curve in replay(learned, held_out, LABELS.get(method, method)):
                curves.setdefault(curve.name, Curve(curve.name)).add(curve)
        for curve in baselines(held_out, train.best_model_per_task()):
            base.setdefault(curve.name, Curve(curve.name)).add(curve)
    return summarise(list(curves.values()), list(base.values()))


def interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95% confidence interval (Student's t over the repeats)."""
    from scipy import stats

    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean())
    if len(data) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, len(data) - 1) * data.std(ddof=1) / np.sqrt(len(data)))
    return mean, mean - half, mean + half


def _combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure as its mean over the repeats with a 95% interval; a cost that some
    repeat never reached is reported as not reached, with how many did."""
    report = runs[0]
    for section in ("routers", "baselines"):
        for position, row in enumerate(report[section]):
            row.pop("points", None)
            for figure in FIGURES:
                values = [run[section][position][figure] for run in runs]
                reached = [v for v in values if v is not None]
                row[f"{figure}_reached"] = f"{len(reached)}/{len(values)}"
                if len(reached) < len(values):
                    row[figure], row[f"{figure}_ci"] = None, None
                    continue
                mean, low, high = interval(reached)
                row[figure] = round(mean, 4)
                row[f"{figure}_ci"] = [round(low, 4), round(high, 4)]
    for name in ("accuracy", "cost_usd"):
        report["best_model"][name] = round(
            float(np.mean([run["best_model"][name] for run in runs])), 6
        )
    return report


def cross_validate(
    outcomes: Outcomes,
    folds: int = 5,
    methods: Sequence[Method] = DEFAULT_METHODS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    repeats: int = 1,
) -> dict[str, Any]:
    """K folds by prompt: fit on the others, replay the held-out fold; pooled over folds.
    With `repeats` > 1, the whole cross-validation runs again on new random folds and every
    figure gets a 95% confidence interval over the repeats."""
    if not 2 <= folds <= len(outcomes):
        raise ValueError(f"folds must be between 2 and the number of prompts ({len(outcomes)})")
    if repeats < 1:
        raise ValueError("repeats must be 1 or more")
    runs = [
        _one_cross_validation(outcomes, folds, methods, seed + r, progress) for r in range(repeats)
    ]
    report = runs[0] if repeats == 1 else _combine(runs)
    report["folds"] = folds
    report["repeats"] = repeats
    return report
