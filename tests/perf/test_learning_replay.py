"""Learning from feedback, measured: the shared outcome data (train split) replayed as live
traffic with feedback, starting from models the router knows nothing about (new ids, no
scores), against an oracle told each task's cheapest adequate model in advance.

    PYTHONPATH=. .venv/bin/pytest -m slow -s tests/perf/test_learning_replay.py

Prints, per seed (the order of the requests and the exploration draws), the accuracy and
cost over the last 500 of 1,900 requests with min_quality 0.7 against the oracle's, and the
learning curve of the first seed (accuracy per 100 requests)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from catalog.snapshot import CatalogSnapshot
from router.core.requests import RouteControls
from router.evaluation.learning_replay import replay_learning
from router.quality.estimators import CatalogQualityEstimator
from router.quality.feedback import Learning
from router.quality.outcomes import load_outcomes
from router.quality.traffic import template_of
from router.routing.decision import RouteRequest, decide
from tests.perf.test_router_perf import _median_us

ROUTING_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "routing"
SEEDS = range(10)
SHARE = 0.1  # MODELYARD_EXPLORATION_SHARE (the default)
CONFIDENCE = 0.8  # MODELYARD_LEARNING_CONFIDENCE (the default)

pytestmark = pytest.mark.slow


def test_replayed_traffic_with_feedback_reaches_the_oracle() -> None:
    files = sorted(ROUTING_DATA.glob("*_train.csv"))
    if not files:
        pytest.fail(f"no outcome files in {ROUTING_DATA}")
    outcomes = load_outcomes(files)
    runs = [
        replay_learning(outcomes, seed=seed, share=SHARE, confidence=CONFIDENCE) for seed in SEEDS
    ]
    print(f"\n{len(outcomes)} prompts; 1,900 requests, min_quality 0.7, share {SHARE}")
    print("seed  accuracy  oracle   gap(rel)  cost/oracle  explored  unproven  refused")
    gaps, ratios = [], []
    for seed, run in zip(SEEDS, runs, strict=True):
        gap = 1 - run["accuracy_last"] / run["oracle_accuracy_last"]
        gaps.append(gap)
        ratios.append(run["cost_ratio_last"])
        print(
            f"{seed:>4}  {run['accuracy_last']:.3f}     {run['oracle_accuracy_last']:.3f}  "
            f"{gap:+.3f}    {run['cost_ratio_last']:.2f}         {run['explored']:>4}      "
            f"{run['unproven']:>4}      {run['refused']:>4}"
        )
    met = sum(g <= 0.03 and r <= 1.2 for g, r in zip(gaps, ratios, strict=True))
    print(
        f"median relative gap {statistics.median(gaps):+.3f}, "
        f"median cost ratio {statistics.median(ratios):.2f}; "
        f"{met} of {len(gaps)} seeds within 3% at <= 1.2x"
    )
    print("learning curve (seed 0): requests, accuracy, oracle accuracy, cost/oracle")
    for point in runs[0]["curve"]:
        print(
            f"  {point['requests']:>9}  {point['accuracy']:.2f}  {point['oracle_accuracy']:.2f}  "
            f"{point['cost_ratio']:.2f}"
        )
    # The bar, on the median run: within 3% of the oracle's accuracy at <= 1.2x its cost.
    assert statistics.median(gaps) <= 0.03
    assert statistics.median(ratios) <= 1.2


def test_what_learning_adds_to_the_decision(snapshot: CatalogSnapshot) -> None:
    """The decision through the scoped learning estimator, against the plain one in the same
    run. A scope without feedback gets the plain estimator (router/pipeline/learning.py);
    with scores for every model, posteriors are kept between tally reloads, so the figure
    is the steady state, and the first decision after a reload is shown apart."""
    plain = CatalogQualityEstimator()
    learning = Learning()
    prompt = "Explain why the sky is blue"
    request = RouteRequest("auto", prompt, 1, None, frozenset(), RouteControls(min_quality=0.6))
    reference = _median_us(lambda: decide(request, snapshot, plain), 3000)
    template = template_of(prompt)
    for model in snapshot.models.values():
        for _ in range(5):
            learning.add("", model.hf_id, "reasoning", template, 0.8)
    scored = _median_us(lambda: decide(request, snapshot, learning.scoped(plain, "")), 3000)

    def after_reload() -> None:
        learning.load([])
        learning.add("", "x", "reasoning", template, 1.0)
        decide(request, snapshot, learning.scoped(plain, ""))

    cold = _median_us(after_reload, 200)
    print(
        f"\ndecision, min_quality 0.6, {len(snapshot.models)} models: {reference:.0f} µs with "
        f"the plain estimator, {scored:.0f} µs through learning with scores for every model, "
        f"{cold:.0f} µs for the first decision after a reload"
    )
