"""Quality estimation: the probability that a model answers a prompt well.

The catalog-based estimator classifies the prompt's task by its words and maps the model's
published benchmark scores for that task to a probability. Learned estimators (trained on
outcome data) implement the same `estimate()`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

from catalog.snapshot import CatalogSnapshot, ModelView

TASK_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "code": ("HumanEval", "MBPP"),
    "math": ("GSM8K",),
    "knowledge": ("MMLU", "TruthfulQA"),
    "reasoning": ("ARC-Challenge", "HellaSwag", "Winogrande", "PIQA"),
    "chat": ("MT-Bench", "MMLU"),
}
SCALE = {"MT-Bench": 10.0}  # everything else is a percentage
# How an estimate from nothing but the model's size ends its basis: the router knows nothing
# of such a model (router/quality/feedback.py gives it a wide interval instead).
SIZE_PRIOR_BASIS = "size prior (no scores)"

_TASK_PATTERNS = [
    (
        "code",
        re.compile(
            r"```|\b(def|class|function|python|javascript|typescript|sql|regex|code|"
            r"compile|bug|stack ?trace|implement|refactor)\b",
            re.I,
        ),
    ),
    (
        "math",
        re.compile(
            r"\d\s*[-+*/^=]\s*\d|\b(calculate|compute|solve|equation|sum of|how many|"
            r"how much|percent|integral|derivative)\b",
            re.I,
        ),
    ),
    (
        "reasoning",
        re.compile(
            r"\b(why|explain|reason|because|logic|puzzle|riddle|infer|"
            r"which option|most likely)\b",
            re.I,
        ),
    ),
    ("knowledge", re.compile(r"\b(who|what|when|where|which|capital|history|define|fact)\b", re.I)),
]


def classify(prompt: str) -> str:
    """The task a prompt asks for: the first pattern that matches, else chat."""
    for task, pattern in _TASK_PATTERNS:
        if pattern.search(prompt):
            return task
    return "chat"


@dataclass(frozen=True)
class Estimate:
    probability: float
    basis: str  # where the number came from, for the decision's explanation
    estimator: str = "catalog"  # which estimator said so
    # The interval around `probability` where the estimator knows one (e.g. 90%); None where
    # it does not. A need is meant to be met by the lower end, not the point.
    low: float | None = None
    high: float | None = None

    @property
    def lower_bound(self) -> float:
        """The conservative estimate: the interval's lower end, or the point without one."""
        return self.probability if self.low is None else self.low


class QualityEstimator(Protocol):
    def estimate(
        self, prompt: str, task: str, model: ModelView, snapshot: CatalogSnapshot
    ) -> Estimate: ...


def _size_prior(parameters: int | None) -> float:
    # With no score to go on, bigger models answer better: about 0.22 at 135M, 0.51 at 7B,
    # 0.67 at 70B, capped below the best published scores.
    if not parameters:
        return 0.3
    return max(0.05, min(0.75, 0.2 + 0.05 * math.log2(parameters / 1e8)))


class CatalogQualityEstimator:
    """Benchmark scores for the task, from the model or its nearest scored ancestor."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str, str], Estimate] = {}

    def estimate(
        self, prompt: str, task: str, model: ModelView, snapshot: CatalogSnapshot
    ) -> Estimate:
        key = (snapshot.version, model.hf_id, task)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            found = self._cache[key] = self._from_catalog(task, model, snapshot)
        return found

    def _from_catalog(self, task: str, model: ModelView, snapshot: CatalogSnapshot) -> Estimate:
        wanted = TASK_BENCHMARKS[task]
        for member in snapshot.lineage(model):
            scores = [
                score / SCALE.get(name, 100.0) for name, score in member.scores if name in wanted
            ]
            if scores:
                source = "" if member is model else f" of {member.hf_id}"
                return Estimate(
                    round(sum(scores) / len(scores), 4),
                    f"{task}: mean of {len(scores)} benchmark score(s){source}",
                )
        return Estimate(round(_size_prior(model.parameters), 4), f"{task}: {SIZE_PRIOR_BASIS}")


def embedding_quality(model: ModelView) -> Estimate:
    """For embedding models, the mean of the model's own published MTEB scores: a ranking aid
    for `strategy: best`, not a probability of anything (no prompt-level estimate exists)."""
    scores = [score for name, score in model.scores if name.startswith("MTEB")]
    if not scores:
        return Estimate(0.5, "no published MTEB score", "mteb")
    mean = sum(scores) / len(scores) / 100.0
    return Estimate(round(mean, 4), f"mean of {len(scores)} MTEB scores", "mteb")
