"""What the pages' charts draw, computed here so it is tested without a browser: the
catalog's cost-vs-quality points with their Pareto frontier, and spend series."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from catalog.benchmarks import CURRENT
from catalog.service import cheapest_usd_per_million
from catalog.snapshot import CatalogSnapshot


@dataclass(frozen=True)
class CostQualityPoint:
    model: str
    name: str
    usd_per_million: float  # the cheapest active deployment's blended price
    score: float
    on_frontier: bool = False


def benchmarks_by_coverage(snapshot: CatalogSnapshot) -> list[tuple[str, int]]:
    """Benchmarks with how many models report them, the best-covered first."""
    counts = Counter(
        benchmark
        for model in snapshot.models.values()
        for benchmark in {name for name, _score in model.scores}
    )
    return sorted(counts.items(), key=lambda item: (-item[1], item[0].lower()))


def default_benchmark(benchmarks: Sequence[tuple[str, int]]) -> str:
    """The chart's benchmark when none is asked for: the best-covered current one (MMLU-Pro,
    GPQA-Diamond, …), so today's models are on it; else the best-covered of all."""
    current = [name for name, _count in benchmarks if name in CURRENT]
    return current[0] if current else (benchmarks[0][0] if benchmarks else "")


def pareto_frontier(points: Sequence[CostQualityPoint]) -> list[CostQualityPoint]:
    """Every point, flagged when no other point is at least as cheap and scores higher, or
    is cheaper and scores as well: the models worth choosing at some budget."""
    order = sorted(points, key=lambda p: (p.usd_per_million, -p.score, p.model))
    best = float("-inf")
    frontier: set[str] = set()
    for point in order:
        if point.score > best:
            frontier.add(point.model)
            best = point.score
    return [
        CostQualityPoint(p.model, p.name, p.usd_per_million, p.score, p.model in frontier)
        for p in order
    ]


def cost_quality(snapshot: CatalogSnapshot, benchmark: str) -> list[CostQualityPoint]:
    """Models with both a price and a score on `benchmark` (their best published score)."""
    points = []
    wanted = benchmark.lower()
    for model in snapshot.models.values():
        scores = [score for name, score in model.scores if name.lower() == wanted]
        price = cheapest_usd_per_million(model)
        if scores and price is not None:
            points.append(CostQualityPoint(model.hf_id, model.name, price, max(scores)))
    return pareto_frontier(points)


def points_as_data(points: Iterable[CostQualityPoint]) -> list[dict[str, Any]]:
    return [asdict(p) for p in points]


def _stacked(
    days: list[str], cells: dict[tuple[str, str], float], labels: list[str]
) -> list[dict[str, Any]]:
    return [
        {"label": label, "data": [round(cells.get((day, label), 0.0), 10) for day in days]}
        for label in labels
    ]


def _running(values: Iterable[float]) -> list[float]:
    total, running = 0.0, []
    for value in values:
        total += value
        running.append(round(total, 10))
    return running


def spend_series(usage: dict[str, Any]) -> dict[str, Any]:
    """The usage summary shaped for the Spend page's charts: per day stacked by model and by
    key, and the running total against what the reference model would have cost."""
    first, last = (dt.date.fromisoformat(usage[end]) for end in ("since", "until"))
    # Every day of the period, spent on or not, so the time axis is true to time.
    days = [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    spent = {row["day"]: row["cost_usd"] for row in usage["by_day"]}
    reference = usage.get("reference")
    would = {row["day"]: row["would_cost_usd"] for row in reference["by_day"]} if reference else {}
    return {
        "days": days,
        "by_model": _stacked(
            days,
            {(r["day"], r["model"]): r["cost_usd"] for r in usage["by_day_model"]},
            [row["model"] for row in usage["by_model"]],
        ),
        "by_key": _stacked(
            days,
            {(r["day"], r["key"]): r["cost_usd"] for r in usage["by_day_key"]},
            [row["key"] for row in usage["by_key"]],
        ),
        "spent": _running(spent.get(day, 0.0) for day in days),
        "reference": {
            "label": reference["model"],
            "data": _running(would.get(day, 0.0) for day in days),
        }
        if reference
        else None,
    }
