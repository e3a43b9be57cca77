"""Validating the ability model by hiding known scores: k-fold over the verified scores of
the catalog, each fold fitted without its scores and asked to predict them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from catalog.snapshot import ModelView
from router.quality.benchmark_ability import Observation, fit, spearman


@dataclass(frozen=True)
class HeldOut:
    scores: int  # held-out scores predicted
    skipped: int  # held out but not predictable (the subject or benchmark had no other score)
    mae: float  # mean absolute error, in points
    spearman: float  # rank correlation of predicted against published, all held-out scores
    spearman_within: float  # the mean over benchmarks of the rank correlation within one
    per_benchmark: dict[str, tuple[int, float, float]]  # name → (n, MAE, Spearman)

    def as_dict(self) -> dict[str, object]:
        return {
            "scores": self.scores,
            "skipped": self.skipped,
            "mae_points": round(self.mae, 2),
            "spearman": round(self.spearman, 3),
            "spearman_within_benchmark": round(self.spearman_within, 3),
            "per_benchmark": {
                k: {"n": n, "mae": round(m, 2), "spearman": round(r, 3)}
                for k, (n, m, r) in self.per_benchmark.items()
            },
        }


def held_out(
    obs: Sequence[Observation], models: Mapping[str, ModelView], folds: int = 5, seed: int = 0
) -> HeldOut:
    """Each score is hidden once (k folds, shuffled with `seed`) and predicted from the
    others; a score whose subject or benchmark has no other score cannot be predicted and
    is counted as skipped."""
    order = np.random.default_rng(seed).permutation(len(obs))
    fold_of = np.empty(len(obs), dtype=np.int64)
    fold_of[order] = np.arange(len(obs)) % folds
    predicted: list[float] = []
    actual: list[float] = []
    names: list[str] = []
    skipped = 0
    for k in range(folds):
        train = [o for o, f in zip(obs, fold_of, strict=True) if f != k]
        model = fit(train, models)
        for o, f in zip(obs, fold_of, strict=True):
            if f != k:
                continue
            guess = model.predict(o)
            if guess is None:
                skipped += 1
                continue
            predicted.append(guess)
            actual.append(o.score)
            names.append(o.benchmark)
    error = np.abs(np.array(predicted) - np.array(actual))
    per: dict[str, tuple[int, float, float]] = {}
    for name in sorted(set(names)):
        pick = [i for i, n in enumerate(names) if n == name]
        per[name] = (
            len(pick),
            float(error[pick].mean()),
            spearman([predicted[i] for i in pick], [actual[i] for i in pick]),
        )
    within = [r for n, _, r in per.values() if n >= 5 and not np.isnan(r)]
    return HeldOut(
        len(predicted),
        skipped,
        float(error.mean()) if len(error) else float("nan"),
        spearman(predicted, actual),
        float(np.mean(within)) if within else float("nan"),
        per,
    )
