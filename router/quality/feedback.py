"""Online learning from the callers' feedback: a Beta posterior per (scope, model, task), and
per prompt template within the task, starting from the prior estimator's estimate.

- The prior is what the router knew before any feedback (benchmark ability, the bundled
  outcome fit) counted as `prior_strength` pseudo-scores. A model the router knows nothing
  about (its estimate is only a size guess) starts from Beta(1, 1): an interval from 0.1 to
  0.9 (at 80%), so it can be explored; until its first score its point stays the size guess,
  so it never counts as meeting a need nobody has seen it meet.
- Scores of the task move its posterior; scores of requests from one template (a system
  prompt, a few-shot preamble: router/quality/traffic.py) move that template's, whose prior
  is the task's posterior counted as `TEMPLATE_STRENGTH` scores. Tasks by prompt words are
  coarse (ARC and Winogrande are both "reasoning"); templates tell such traffic apart.
- The interval is the posterior's central `confidence` interval.

Every replica polls the database for the tallies (a grouped count, every few seconds), so
feedback sent to one replica moves every replica's estimates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from catalog.snapshot import CatalogSnapshot, ModelView
from router.quality import repository as repo
from router.quality.estimators import (
    NO_VERIFIED_SCORES,
    SIZE_PRIOR_BASIS,
    Estimate,
    QualityEstimator,
)
from router.quality.traffic import template_of

LEARNED_METRIC = "quality"  # the feedback name learning reads; other names are kept, not learned
TEMPLATE_STRENGTH = 4.0  # the task's posterior counts as this many scores of a new template
UNKNOWN_STRENGTH = 2.0  # an unknown model's prior counts as two scores (Beta(1, 1) at 0.5)
POSTERIOR_CACHE = 100_000  # posteriors kept between tally reloads
POPULATION_MIN_SCORES = 20  # scores of a task before their mean is an unknown model's prior


@dataclass(frozen=True)
class Tally:
    scores: int
    total: float  # sum of scores

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.scores + other.scores, self.total + other.total)


@lru_cache(maxsize=65_536)
def beta_interval(a: float, b: float, confidence: float) -> tuple[float, float]:
    """The central interval of Beta(a, b); `a` and `b` arrive rounded so the cache hits."""
    from scipy.special import betaincinv  # imported on first use, never at start-up

    tail = (1.0 - confidence) / 2.0
    return float(betaincinv(a, b, tail)), float(betaincinv(a, b, 1.0 - tail))


def knows_nothing(estimate: Estimate) -> bool:
    """The estimate is a guess from the model's size (and family): no verified score of it or
    its ancestors exists, so the router knows nothing of it."""
    return estimate.basis.endswith((SIZE_PRIOR_BASIS, NO_VERIFIED_SCORES))


class Learning:
    """The tallies every replica shares, and estimators that read them for one scope."""

    def __init__(
        self,
        prior_strength: float = 10.0,
        confidence: float = 0.8,
        scope_by: str = "team",
        metric: str = LEARNED_METRIC,
    ) -> None:
        self.prior_strength = prior_strength
        self.confidence = confidence
        self.scope_by = scope_by  # "team": each team learns alone; "install": all together
        self.metric = metric
        self.tasks: dict[tuple[str, str, str], Tally] = {}
        self.templates: dict[tuple[str, str, str, str], Tally] = {}
        self.scopes: set[str] = set()  # scopes that have sent feedback
        # Per (scope, task), every model's scores together: what an unknown model is
        # expected to do on the task before its own scores say otherwise.
        self.pooled: dict[tuple[str, str], Tally] = {}
        self.version = 0  # bumped on every change, for caches that depend on the tallies
        self._posteriors: dict[tuple[Estimate, str, str, str, str], Estimate] = {}

    def scope_of(self, team: str | None) -> str:
        return (team or "") if self.scope_by == "team" else ""

    def load(self, rows: Iterable[repo.TallyRow]) -> None:
        """Replace the tallies with these (from the database, or a replay)."""
        tasks: dict[tuple[str, str, str], Tally] = {}
        templates: dict[tuple[str, str, str, str], Tally] = {}
        for row in rows:
            tally = Tally(row.scores, row.total)
            key = (row.scope, row.model, row.task)
            tasks[key] = tasks.get(key, Tally(0, 0.0)) + tally
            templates[(*key, row.template)] = tally
        self.tasks, self.templates = tasks, templates
        self.scopes = {scope for scope, _, _ in tasks}
        self.pooled = {}
        for (scope, _, task), tally in tasks.items():
            self.pooled[(scope, task)] = self.pooled.get((scope, task), Tally(0, 0.0)) + tally
        self.version += 1
        self._posteriors = {}

    def add(self, scope: str, model: str, task: str, template: str, score: float) -> None:
        """One score, in this process only (a replay; live traffic goes through `load`)."""
        one = Tally(1, score)
        key = (scope, model, task)
        self.tasks[key] = self.tasks.get(key, Tally(0, 0.0)) + one
        self.templates[(*key, template)] = self.templates.get((*key, template), Tally(0, 0.0)) + one
        self.scopes.add(scope)
        self.pooled[(scope, task)] = self.pooled.get((scope, task), Tally(0, 0.0)) + one
        self.version += 1
        self._posteriors = {}

    def refresh(self, factory: sessionmaker[Session]) -> None:
        with factory() as session:
            self.load(repo.tallies(session, self.metric))

    def population_mean(self, scope: str, task: str) -> float:
        """The mean score of every model on the task in this scope (0.5 before enough):
        the prior of a model the router knows nothing about, so that one bad score among
        models that mostly do well does not rule it out."""
        pooled = self.pooled.get((scope, task))
        if pooled is None or pooled.scores < POPULATION_MIN_SCORES:
            return 0.5
        return min(0.9, max(0.1, pooled.total / pooled.scores))

    def scoped(self, prior: QualityEstimator, scope: str) -> ScopedLearning:
        return ScopedLearning(self, prior, scope)

    def posterior(
        self, prior: Estimate, scope: str, model: str, task: str, template: str
    ) -> Estimate:
        """The prior moved by the scores of this scope, model, task and template (kept until
        the tallies change: a decision asks this of every model)."""
        task_tally = self.tasks.get((scope, model, task))
        if task_tally is None and not knows_nothing(prior):
            return prior  # nothing learned: the prior as it was, with its own basis
        if (scope, model, task, template) not in self.templates:
            template = ""  # nothing learned of this template: the task's posterior serves
        key = (prior, scope, model, task, template)
        found = self._posteriors.get(key)
        if found is None:
            if len(self._posteriors) > POSTERIOR_CACHE:
                self._posteriors.clear()
            found = self._posteriors[key] = self._posterior(prior, scope, model, task, template)
        return found

    def _posterior(
        self, prior: Estimate, scope: str, model: str, task: str, template: str
    ) -> Estimate:
        unknown = knows_nothing(prior)
        task_tally = self.tasks.get((scope, model, task))
        if unknown:
            p0, strength = self.population_mean(scope, task), UNKNOWN_STRENGTH
        else:
            p0, strength = prior.probability, self.prior_strength
        task_tally = task_tally or Tally(0, 0.0)
        a = strength * p0 + task_tally.total
        b = strength * (1.0 - p0) + task_tally.scores - task_tally.total
        own = self.templates.get((scope, model, task, template))
        if own is not None and own.scores < task_tally.scores:
            # The template's scores over the task's posterior: most of what the router knows of
            # a template it learned from that template.
            mean = a / (a + b)
            a = TEMPLATE_STRENGTH * mean + own.total
            b = TEMPLATE_STRENGTH * (1.0 - mean) + own.scores - own.total
        a, b = max(a, 1e-3), max(b, 1e-3)
        low, high = beta_interval(round(a, 2), round(b, 2), self.confidence)
        where = f" ({'team ' + scope if scope else 'whole install'})"
        if task_tally.scores == 0:
            # The point stays the size guess until scores arrive, so an unknown model never
            # counts as meeting a need it is not known to meet; its interval is Beta(1, 1)'s,
            # so exploration may try it.
            return Estimate(
                prior.probability,
                f"{prior.basis}; unknown model, nothing learned yet{where}",
                prior.estimator,
                round(min(low, prior.probability), 4),
                round(max(high, prior.probability), 4),
                (round(a, 4), round(b, 4)),
            )
        else:
            basis = (
                f"learned: {a / (a + b):.2f} from {task_tally.scores} scores{where}, "
                f"prior {p0:.2f}" + (" (unknown model)" if unknown else "")
            )
        return Estimate(
            round(a / (a + b), 4),
            basis,
            "feedback",
            round(low, 4),
            round(high, 4),
            (round(a, 4), round(b, 4)),
        )


class ScopedLearning:
    """A quality estimator for one scope: the prior estimator's estimate, moved by feedback."""

    def __init__(self, learning: Learning, prior: QualityEstimator, scope: str) -> None:
        self.learning = learning
        self.prior = prior
        self.scope = scope
        self._template = ("", "")  # the last prompt's template: one decision asks per model

    def template(self, prompt: str) -> str:
        last, signature = self._template
        if last is not prompt:
            signature = template_of(prompt)
            self._template = (prompt, signature)
        return signature

    def estimate(
        self, prompt: str, task: str, model: ModelView, snapshot: CatalogSnapshot
    ) -> Estimate:
        prior = self.prior.estimate(prompt, task, model, snapshot)
        return self.learning.posterior(prior, self.scope, model.hf_id, task, self.template(prompt))
