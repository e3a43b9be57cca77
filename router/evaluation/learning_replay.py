"""Replaying outcome data as live traffic with feedback: does the router learn, from nothing,
which model each kind of request needs?

The outcome file's models join a catalog under new ids with no benchmark scores, so the
router knows nothing of them (each starts as an unknown model). Requests arrive in a random
order with a quality need; each goes through the real decision, exploration and learning
(router/routing/decision.py, exploration.py, router/quality/feedback.py); the answering
model's score in the file comes back as feedback at once. The reference is an oracle told
in advance each task's cheapest model whose mean score meets the need (or, where none does,
the task's best model).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from catalog.snapshot import CatalogSnapshot
from router.core.requests import RouteControls
from router.core.tokens import estimate_tokens
from router.quality.estimators import CatalogQualityEstimator, Estimate
from router.quality.feedback import Learning
from router.quality.learned import LearnedQuality
from router.quality.outcomes import Outcomes
from router.quality.traffic import template_of
from router.routing.decision import Candidate, Decision, RouteRequest, decide
from router.routing.exploration import explore

CURVE_WINDOW = 100  # requests per point of the learning curve


def _snapshot(outcomes: Outcomes, names: Sequence[str]) -> CatalogSnapshot:
    """The models under new ids, priced per prompt token from the file's mean costs."""
    from router.evaluation.replay import replay_snapshot

    tokens = np.array([estimate_tokens(p, 1) for p in outcomes.prompts], dtype=np.float64)
    per_token = outcomes.costs.sum(axis=0) / tokens.sum()
    stand_in = LearnedQuality(
        method="task",
        models=tuple(names),
        vocabulary=(),
        idf=np.zeros(0),
        cost_per_token=per_token,
        cost_fixed=np.zeros(len(names)),
        names={},
        meta={},
    )
    return replay_snapshot(stand_in)


def oracle_choice(outcomes: Outcomes, need: float) -> dict[str, int]:
    """Per task, the cheapest model whose mean score meets the need, else the best one."""
    tasks = np.array(outcomes.tasks)
    chosen = {}
    for task in sorted(set(outcomes.tasks)):
        rows = tasks == task
        means = outcomes.scores[rows].mean(axis=0)
        costs = outcomes.costs[rows].mean(axis=0)
        adequate = np.flatnonzero(means >= need)
        chosen[task] = (
            int(adequate[np.argmin(costs[adequate])]) if len(adequate) else int(np.argmax(means))
        )
    return chosen


def replay_learning(
    outcomes: Outcomes,
    requests: int = 1900,
    need: float = 0.7,
    last: int = 500,
    seed: int = 0,
    share: float = 0.1,
    confidence: float = 0.8,
    prior_strength: float = 10.0,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(outcomes))[:requests]
    names = [f"new/model-{i + 1:02d}" for i in range(len(outcomes.models))]
    snapshot = _snapshot(outcomes, names)
    column = {name: i for i, name in enumerate(names)}
    learning = Learning(prior_strength=prior_strength, confidence=confidence)
    estimator = learning.scoped(CatalogQualityEstimator(), "")
    draws = random.Random(seed)
    oracle = oracle_choice(outcomes, need)
    controls = RouteControls(min_quality=need)
    relaxed_controls = RouteControls()
    picked, scores, costs, oracle_scores, oracle_costs = [], [], [], [], []
    explored = unproven = refused = 0
    for row in order:
        prompt = outcomes.prompts[row]
        request = RouteRequest("auto", prompt, 1, None, frozenset(), controls)
        decision = decide(request, snapshot, estimator)
        relaxed = dataclasses.replace(request, controls=relaxed_controls)

        def estimate_of(
            candidate: Candidate, p: str = prompt, task: str = decision.task
        ) -> Estimate:
            return estimator.estimate(p, task, candidate.model, snapshot)

        def relaxed_decision(r: RouteRequest = relaxed) -> Decision:
            return decide(r, snapshot, estimator)

        decision = explore(
            decision,
            relaxed_decision,
            estimate_of,
            draws,
            share,
            confidence,
        )
        if decision.candidates:
            model = decision.candidates[0].model.hf_id
        else:  # refused: the caller asks again with strategy best, as it would after the 400
            refused += 1
            best = dataclasses.replace(request, controls=RouteControls(strategy="best"))
            model = decide(best, snapshot, estimator).candidates[0].model.hf_id
        explored += decision.exploration == "explore"
        unproven += decision.exploration == "unproven"
        j = column[model]
        score = float(outcomes.scores[row, j])
        learning.add("", model, decision.task, template_of(prompt), score)
        picked.append(j)
        scores.append(score)
        costs.append(float(outcomes.costs[row, j]))
        k = oracle[outcomes.tasks[row]]
        oracle_scores.append(float(outcomes.scores[row, k]))
        oracle_costs.append(float(outcomes.costs[row, k]))
    s, c = np.array(scores), np.array(costs)
    os_, oc = np.array(oracle_scores), np.array(oracle_costs)
    tail = slice(len(s) - last, len(s))
    curve = []
    for start in range(0, len(s), CURVE_WINDOW):
        window = slice(start, min(start + CURVE_WINDOW, len(s)))
        curve.append(
            {
                "requests": f"{start + 1}-{window.stop}",
                "accuracy": round(float(s[window].mean()), 4),
                "oracle_accuracy": round(float(os_[window].mean()), 4),
                "cost_ratio": round(float(c[window].sum() / oc[window].sum()), 3),
            }
        )
    tasks = [outcomes.tasks[row] for row in order]
    chosen: dict[str, dict[str, int]] = {}
    for task, j in zip(tasks[len(s) - last :], picked[len(s) - last :], strict=True):
        chosen.setdefault(task, {})
        chosen[task][names[j]] = chosen[task].get(names[j], 0) + 1
    return {
        "chosen_last": {
            t: dict(sorted(c.items(), key=lambda kv: -kv[1])) for t, c in chosen.items()
        },
        "requests": len(s),
        "need": need,
        "oracle": {t: names[j] for t, j in oracle.items()},
        "models": dict(zip(names, outcomes.models, strict=True)),
        "last": last,
        "accuracy_last": round(float(s[tail].mean()), 4),
        "oracle_accuracy_last": round(float(os_[tail].mean()), 4),
        "accuracy_gap_last": round(float(os_[tail].mean() - s[tail].mean()), 4),
        "cost_ratio_last": round(float(c[tail].sum() / oc[tail].sum()), 4),
        "cost_usd_last": round(float(c[tail].sum()), 6),
        "oracle_cost_usd_last": round(float(oc[tail].sum()), 6),
        "explored": explored,
        "unproven": unproven,
        "refused": refused,
        "curve": curve,
    }
