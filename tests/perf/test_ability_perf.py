"""The ability model's cost: one fit per catalog version, and the decision on the seeded
catalog against the previous revision's estimator (mean of the task's scores, else a size
prior), measured in the same run. Prints figures for the closing note; asserts no time."""

from __future__ import annotations

import statistics
import time

import pytest

from catalog.snapshot import CatalogSnapshot
from router.core.requests import RouteControls
from router.quality.estimators import CatalogQualityEstimator
from router.quality.scored import AbilityEstimates
from router.routing.decision import RouteRequest, decide

pytestmark = pytest.mark.slow
PROMPTS = [
    "Who was the first person to walk on the moon, and in which year?",
    "Solve 3x + 5 = 20 and explain each step.",
    "def parse(x): return x  # fix this bug",
]


class PreviousEstimator(CatalogQualityEstimator):
    """The estimator before the ability model: no fit, so the task's mean score or size."""

    def ability(self, snapshot: CatalogSnapshot) -> AbilityEstimates | None:
        return None


def _median_us(action: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def test_decision_time_with_the_ability_model(snapshot: CatalogSnapshot) -> None:
    fit_ms = _median_us(lambda: AbilityEstimates.of(snapshot), 5) / 1000
    requests = [
        RouteRequest("auto", p, 1, 200, frozenset(), RouteControls(min_quality=0.5))
        for p in PROMPTS
    ]
    figures = {}
    # Alternate the two, three rounds, so drift on a shared machine hits both alike.
    for _round in range(3):
        for name, estimator in (("previous", PreviousEstimator()), ("ability", None)):
            chosen = estimator or CatalogQualityEstimator()
            for r in requests:
                decide(r, snapshot, chosen)  # warm: the fit and the per-model cache
            figure = _median_us(lambda e=chosen: [decide(r, snapshot, e) for r in requests], 600)
            figures.setdefault(name, []).append(figure / len(requests))
    previous = statistics.median(figures["previous"])
    ability = statistics.median(figures["ability"])
    print(
        f"\nability fit on the seeded catalog: {fit_ms:.1f} ms (once per catalog version)"
        f"\ndecision, seeded catalog, median: previous estimator {previous:.1f} µs, "
        f"ability model {ability:.1f} µs ({ability / previous - 1:+.1%})"
    )
