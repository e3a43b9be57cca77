"""The catalog estimator's answers from the ability model: per model, task and reasoning
mode, the probability of a good answer with its 90% interval, and a basis that names the
scores and their source ("math: ability 0.81 ± 0.04 from AIME-2024 79.8 and MATH-500 97.3
(DeepSeek-R1 report)")."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from catalog.benchmarks import BENCHMARK_TASKS, TASKS
from catalog.snapshot import CatalogSnapshot, ModelView, ScoreView
from router.quality.benchmark_ability import (
    EFFORTS,
    LINEAGE_SD,
    TAU_GENERAL,
    TAU_TASK,
    Z90,
    AbilityFit,
    Vector,
    fit,
    mode_for_effort,
    observations,
    scores_by_subject,
)
from router.quality.estimators import NO_VERIFIED_SCORES, Estimate

BASIS_SCORES = 3  # scores the basis names at most
_ORDER = {name: i for i, name in enumerate(BENCHMARK_TASKS)}  # current benchmarks first


def _short_source(source: str) -> str:
    """A source as the basis names it: its document, without table or section."""
    return re.split(r",|;| \(", source, maxsplit=1)[0].strip()[:60]


def _named(facts: Sequence[ScoreView]) -> str:
    picked = sorted(facts, key=lambda f: (_ORDER.get(f.benchmark, 99), -f.score))
    picked = list({f.benchmark: f for f in reversed(picked)}.values())[::-1][:BASIS_SCORES]
    scores = [f"{f.benchmark} {f.score:g}" for f in picked]
    joined = scores[0] if len(scores) == 1 else ", ".join(scores[:-1]) + " and " + scores[-1]
    sources = "; ".join(dict.fromkeys(_short_source(f.source) for f in picked))
    return f"{joined} ({sources})"


@dataclass
class AbilityEstimates:
    snapshot: CatalogSnapshot
    fitted: AbilityFit
    modes: dict[str, list[str]]  # hf_id → its fitted modes

    @classmethod
    def of(cls, snapshot: CatalogSnapshot) -> AbilityEstimates | None:
        """The fit of a snapshot's verified scores; None when it has none to fit."""
        obs = observations(snapshot)
        if not obs:
            return None
        fitted = fit(obs, snapshot.models)
        modes: dict[str, list[str]] = {}
        for hf_id, mode in fitted.subjects:
            modes.setdefault(hf_id, []).append(mode)
        return cls(snapshot, fitted, modes)

    def estimate(self, model: ModelView, task: str, effort: str | None) -> Estimate:
        label = task if effort is None else f"{task} (reasoning {effort})"
        own = self._subject(model, effort)
        if own is not None:
            mode, ability, sd, facts, note, factors = own
        else:
            for member in self.snapshot.lineage(model)[1:]:
                found = self._subject(member, effort)
                if found is not None:
                    mode, ability, sd, facts, note, factors = found
                    sd = [math.hypot(x, LINEAGE_SD) for x in sd]
                    note = f"{note} of {member.hf_id}"
                    break
            else:
                prior_mode = f"reasoning-{effort}" if effort in EFFORTS else ""
                prior = self.fitted.prior_ability(model, prior_mode, task)
                spread = math.hypot(TAU_GENERAL, TAU_TASK)
                p, low, high = self._probability(prior, spread, task, None)
                return Estimate(
                    p,
                    f"{label}: family and size prior {p:.2f} {NO_VERIFIED_SCORES}",
                    "catalog",
                    low,
                    high,
                )
        t = TASKS.index(task)
        p, low, high = self._probability(ability[t], sd[t], task, factors)
        in_task = [f for f in facts if BENCHMARK_TASKS[f.benchmark] == task]
        mode_note = f", {mode}" if mode else ""
        if in_task:
            where = f"from {_named(in_task)}"
        else:
            where = f"from other tasks' scores: {_named(facts)}"
        return Estimate(
            p,
            f"{label}: ability {p:.2f} ± {(high - low) / 2:.2f} {where}{note}{mode_note}",
            "catalog",
            low,
            high,
        )

    def predicted(self, model: ModelView, benchmark: str) -> float | None:
        """The model's predicted score (percentage) on a benchmark of the fit, in its
        default mode; None for a model without scores or a benchmark the fit lacks."""
        mode = mode_for_effort(self.modes.get(model.hf_id, []), None)
        if mode is None:
            return None
        return self.fitted.predict_score(model.hf_id, mode, benchmark)

    def _subject(
        self, model: ModelView, effort: str | None
    ) -> tuple[str, list[float], list[float], list[ScoreView], str, Vector] | None:
        modes = self.modes.get(model.hf_id)
        if not modes:
            return None
        mode = mode_for_effort(modes, effort)
        if mode is None:
            return None
        subject = self.fitted.subjects[(model.hf_id, mode)]
        facts = scores_by_subject(model).get(mode, [])
        return mode, list(subject.mean), list(subject.sd), facts, "", subject.factors

    def _probability(
        self, ability: float, sd: float, task: str, factors: Vector | None
    ) -> tuple[float, float, float]:
        p = self.fitted.task_probability(ability, task, factors)
        low = self.fitted.task_probability(ability - Z90 * sd, task, factors)
        high = self.fitted.task_probability(ability + Z90 * sd, task, factors)
        return round(p, 4), round(low, 4), round(high, 4)
