"""Quality estimation: the probability that a model answers a prompt well.

The catalog-based estimator classifies the prompt's task by its words and maps the model's
published benchmark scores for that task to a probability. Learned estimators (trained on
outcome data) implement the same `estimate()`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from catalog.benchmarks import BENCHMARK_TASKS, SCALE, TASKS
from catalog.snapshot import CatalogSnapshot, ModelView

if TYPE_CHECKING:
    from router.quality.scored import AbilityEstimates

# The benchmarks of each task when no ability fit exists (a catalog without known scores).
TASK_BENCHMARKS: dict[str, tuple[str, ...]] = {
    task: tuple(b for b, t in BENCHMARK_TASKS.items() if t == task) for task in TASKS
}
# How an estimate from nothing but the model's size (and family) ends its basis: the router
# knows nothing of such a model (router/quality/feedback.py lets traffic decide instead).
SIZE_PRIOR_BASIS = "size prior (no scores)"  # no verified score in the whole catalog
NO_VERIFIED_SCORES = "(no verified scores)"  # the ability model's family-and-size prior

_TASK_PATTERNS = [
    (
        "tool_use",
        re.compile(
            r"\b(call (the|a) (function|tool|api)|use the (\w+ )?tool|function call(ing)?|"
            r"tool call|invoke the)\b",
            re.I,
        ),
    ),
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
            r"how much|percent|integral|derivative|prove|proof|theorem|lemma|maths?)\b",
            re.I,
        ),
    ),
    (
        "instruction",
        re.compile(
            r"\b(in (exactly|at most|at least|under|no more than) \d+ (words|sentences|"
            r"paragraphs|bullet)|all (lower|upper)case|capital letters|bullet points?|"
            r"do not use (the word|any)|wrap your (entire )?(answer|response)|"
            r"respond (only )?in json|end your (answer|response) with|title in double)\b",
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


# Words one of which every match of a task's pattern holds as a whole word (the first word
# of each phrase, or a rarer one of it), and whether a digit or a fence can start a match
# without any: a pattern whose words are all absent from the prompt cannot match, so it is
# not run. Six patterns cost ~24 µs on a one-line question, a quarter of a routing decision;
# the words are read once (~2 µs). tests/test_task_classifier.py checks the two agree.
_TRIGGERS: dict[str, frozenset[str]] = {
    "tool_use": frozenset({"call", "use", "function", "tool", "invoke"}),
    "code": frozenset(
        {"def", "class", "function", "python", "javascript", "typescript", "sql", "regex"}
        | {"code", "compile", "bug", "stack", "stacktrace", "implement", "refactor"}
    ),
    "math": frozenset(
        {"calculate", "compute", "solve", "equation", "sum", "how", "percent", "integral"}
        | {"derivative", "prove", "proof", "theorem", "lemma", "math", "maths"}
    ),
    "instruction": frozenset(
        {"exactly", "most", "least", "under", "more", "all", "capital", "bullet", "do"}
        | {"wrap", "respond", "end", "title"}
    ),
    "reasoning": frozenset(
        {"why", "explain", "reason", "because", "logic", "puzzle", "riddle", "infer"}
        | {"which", "most"}
    ),
    "knowledge": frozenset(
        {"who", "what", "when", "where", "which", "capital", "history", "define", "fact"}
    ),
}
_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")


def classify(prompt: str, needs: Collection[str] = ()) -> str:
    """The task a prompt asks for (one of catalog.benchmarks.TASKS): tool use when the
    request carries tools, else the first pattern that matches, else chat."""
    if "tools" in needs:
        return "tool_use"
    words = set(_WORD.findall(prompt.lower()))
    for task, pattern in _TASK_PATTERNS:
        if words.isdisjoint(_TRIGGERS[task]):
            if task == "code" and "```" in prompt:
                return task
            if task != "math" or _DIGIT.search(prompt) is None:
                continue
        if pattern.search(prompt):
            return task
    return "chat"


def classify_by_patterns(prompt: str) -> str:
    """`classify` running every pattern: its specification (the tests compare the two)."""
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
    # Where the estimate is a Beta posterior (learned from feedback: router/quality/
    # feedback.py), its (a, b): exploration draws from it and reads the chance it meets a need.
    beta: tuple[float, float] | None = None

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
    """From published benchmark scores: the ability model fitted over every verified score
    of the snapshot (router/quality/scored.py), one fit per snapshot version. Without any
    known score in the catalog, the mean of the task's scores of the model or its nearest
    scored ancestor, else a size prior. `effort` is the request's `reasoning_effort`: the
    estimate follows that mode where the model's scores distinguish modes."""

    def __init__(self, effort: str | None = None, *, shared: CatalogQualityEstimator | None = None):
        self.effort = effort
        # Views for other efforts share the fit and the cache of the estimator they came from.
        self._cache: dict[tuple[int, str, str, str | None], Estimate] = (
            shared._cache if shared else {}
        )
        self._fits: dict[int, AbilityEstimates | None] = shared._fits if shared else {}
        self._fitted: list[int] = shared._fitted if shared else [0]  # fits run, with the views

    def for_effort(self, effort: str | None) -> CatalogQualityEstimator:
        """This estimator for a request that asks for a reasoning effort."""
        return self if effort == self.effort else CatalogQualityEstimator(effort, shared=self)

    @property
    def fits(self) -> int:
        """How many ability fits this estimator (and its views) has run."""
        return self._fitted[0]

    def prepare(self, snapshot: CatalogSnapshot) -> None:
        """Fit the ability model of a new snapshot before the router reads it: the app's
        snapshot cache calls this at start-up and in its background refresh, so a request
        never waits for a fit (about 0.1 s on the seeded catalog)."""
        if snapshot.version not in self._fits:
            self._keep(snapshot.version, self._fit(snapshot))

    def ability(self, snapshot: CatalogSnapshot) -> AbilityEstimates | None:
        """The ability fit of this snapshot version: prepared, or fitted now for a snapshot
        nobody prepared (the command line, a replay), then kept."""
        found = self._fits.get(snapshot.version, False)
        if found is False:
            found = self._fit(snapshot)
            self._keep(snapshot.version, found)
        return found  # type: ignore[return-value]

    def _fit(self, snapshot: CatalogSnapshot) -> AbilityEstimates | None:
        from router.quality.scored import AbilityEstimates

        self._fitted[0] += 1
        return AbilityEstimates.of(snapshot)

    def _keep(self, version: int, found: AbilityEstimates | None) -> None:
        # The newest two versions: a request that took the previous snapshot just before the
        # refresh swapped it still finds that snapshot's fit.
        for old in [v for v in self._fits if v != version][:-1]:
            del self._fits[old]
        self._fits[version] = found

    def estimate(
        self, prompt: str, task: str, model: ModelView, snapshot: CatalogSnapshot
    ) -> Estimate:
        key = (snapshot.version, model.hf_id, task, self.effort)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            found = self._cache[key] = self._from_catalog(task, model, snapshot)
        return found

    def _from_catalog(self, task: str, model: ModelView, snapshot: CatalogSnapshot) -> Estimate:
        fitted = self.ability(snapshot) if task in TASKS else None
        if fitted is not None:
            return fitted.estimate(model, task, self.effort)
        wanted = TASK_BENCHMARKS.get(task, ())
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
