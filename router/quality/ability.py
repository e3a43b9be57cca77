"""The `ability` quality estimator: which task a prompt is, and how each model does on it.

What the shared outcome data taught (see docs/quality.md, "How well it routes"):
- most of what predicts a model's success is the task; the words of a single prompt carry
  little more (cross-validated AUC 0.5-0.7 within a task), so per-model classifiers over the
  whole prompt mostly learn the few-shot preamble and overfit the rest;
- ARC and Winogrande prompts open with the same five-shot preamble (80-87% of their
  characters): it names the task and says nothing about the question, so it is recognised,
  then cut off before the prompt is embedded.

So the estimator is, per task, a strongly regularised logistic regression per model on a
static embedding of the prompt's own part (WordLlama l2_supercat, shipped in its wheel) plus
a few structural features; the task comes from the preamble when one matches, else from a
classifier over the same features, and the per-task predictions are mixed by its
probabilities. A model with no outcome data gets an ability per task from its benchmark
scores (see `ColdStart`), plus the prompt's shared deviation, so every catalog model is
covered on the same scale.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]

PREAMBLE_MIN_CHARS = 200  # a shorter shared opening is an instruction, not a few-shot preamble
EMBED_CHARS = 2000  # the embedding of a prompt's first 2,000 characters (time is per token)
REGULARISATION = 0.1  # logistic C: small, because the signal within a task is weak
STRUCTURE = 4  # structural features appended to the embedding
# Bumped when `features` changes meaning: a fit made with other features is refused (refit).
FEATURE_VERSION = 2
_CODE = re.compile(r"```|\bdef |\breturn\b|;\n|\{\n|\bfunction\b|\bclass ")
_DIGIT = re.compile(r"\d")


def common_preambles(prompts: Sequence[str], tasks: Sequence[str]) -> dict[str, str]:
    """Per task, the opening all its prompts share, cut back to a line break, when it is
    long enough to be a few-shot preamble."""
    found = {}
    for task in sorted(set(tasks)):
        own = [p for p, t in zip(prompts, tasks, strict=True) if t == task]
        if len(own) < 2:
            continue
        shared = os.path.commonprefix(own)  # noqa: RUF071 — characters are what we want
        shared = shared[: shared.rfind("\n") + 1]
        if len(shared) >= PREAMBLE_MIN_CHARS:
            found[task] = shared
    return found


def strip_preamble(prompt: str, preambles: Mapping[str, str]) -> tuple[str, str | None]:
    """The prompt without a known preamble, and the task the preamble names."""
    for task, preamble in preambles.items():
        if prompt.startswith(preamble):
            return prompt[len(preamble) :], task
    return prompt, None


_loading = threading.Lock()


def _wordllama() -> Any:
    """The prompt embedder, loaded once (~0.3 s): a server warms it at start-up
    (`warm_embedder`), and a request arriving meanwhile waits for that load, not a second."""
    with _loading:
        return _load_wordllama()


def warm_embedder() -> None:
    _wordllama()


@lru_cache(maxsize=1)
def _load_wordllama() -> Any:
    import wordllama
    from wordllama import WordLlama

    # The weights ship inside the wheel; disable_download keeps a missing file from
    # reaching for the Hub.
    return WordLlama.load(
        config="l2_supercat",
        cache_dir=Path(wordllama.__file__).parent,
        disable_download=True,
    )


def structure(text: str) -> list[float]:
    """Length, code, numbers and non-English letters, each on a scale near [0, 1]."""
    length = max(len(text), 1)
    return [
        math.log1p(len(text)) / 10.0,
        1.0 if _CODE.search(text) else 0.0,
        min(1.0, 10.0 * len(_DIGIT.findall(text)) / length),
        0.0 if text.isascii() else min(1.0, 5.0 * (len(text.encode()) - len(text)) / length),
    ]


def features(texts: Sequence[str]) -> Matrix:
    """Unit-length WordLlama embeddings of the texts (the mean of their tokens' vectors),
    with the structural features. Tokenising and pooling here, not through `embed()`,
    saves about half the time per prompt."""
    model = _wordllama()
    clipped = [t[:EMBED_CHARS] or " " for t in texts]
    table = model.embedding
    rows = []
    for encoding in model.tokenizer.encode_batch(clipped, add_special_tokens=False):
        # WordLlama's tokenizer pads a batch to its longest text: only the real tokens count,
        # or a prompt's features would depend on the batch it came in (training embeds
        # thousands at once, a request one).
        ids = [i for i, real in zip(encoding.ids, encoding.attention_mask, strict=True) if real]
        rows.append(table[ids or [0]].mean(axis=0))
    embedded = np.asarray(rows, dtype=np.float64)
    embedded /= np.linalg.norm(embedded, axis=1, keepdims=True) + 1e-9
    shape = np.array([structure(t) for t in clipped], dtype=np.float64)
    return np.hstack([embedded, shape])


_FEATURE_CACHE: dict[str, Matrix] = {}
FEATURE_CACHE_SIZE = 50_000


def training_features(texts: Sequence[str]) -> Matrix:
    """`features`, remembered per text: cross-validation fits the same prompts many times."""
    missing = list(dict.fromkeys(t for t in texts if t not in _FEATURE_CACHE))
    if missing:
        if len(_FEATURE_CACHE) + len(missing) > FEATURE_CACHE_SIZE:
            _FEATURE_CACHE.clear()
        for text, row in zip(missing, features(missing), strict=True):
            _FEATURE_CACHE[text] = row
    return np.array([_FEATURE_CACHE[t] for t in texts])


def _logistic(x: Matrix, y: Matrix, weights: Matrix | None = None) -> tuple[Matrix, float]:
    """A regularised logistic regression on fractional labels (each row counts as a success
    with weight y and a failure with weight 1 - y)."""
    from sklearn.linear_model import LogisticRegression

    n = len(y)
    positives = float(y.sum())
    if min(positives, n - positives) < 1e-9:  # one class only: the smoothed rate
        rate = (positives + 1.0) / (n + 2.0)
        return np.zeros(x.shape[1]), math.log(rate / (1.0 - rate))
    model = LogisticRegression(C=REGULARISATION, max_iter=300)
    if np.all((y == 0) | (y == 1)):
        fitted = model.fit(x, y.astype(int))
    else:
        weight = np.concatenate([y, 1.0 - y])
        keep = weight > 0
        labels = np.concatenate([np.ones(n, dtype=int), np.zeros(n, dtype=int)])
        fitted = model.fit(np.vstack([x, x])[keep], labels[keep], sample_weight=weight[keep])
    return np.asarray(fitted.coef_[0], dtype=np.float64), float(fitted.intercept_[0])


def fit_arrays(
    prompts: Sequence[str], tasks: Sequence[str], scores: Matrix, *, task_only: bool = False
) -> dict[str, Any]:
    """Everything `predict` needs, as plain arrays. `task_only`: no prompt features, just
    each model's smoothed success rate on the task (the task-prior baseline)."""
    from sklearn.linear_model import LogisticRegression

    preambles = common_preambles(prompts, tasks)
    names = sorted(set(tasks))
    own = [strip_preamble(p, preambles)[0] for p in prompts]
    x = training_features(own)
    # task_only: the per-model fits see no features (their coefficients stay 0); the task
    # classifier still does.
    seen = np.zeros_like(x) if task_only else x
    index = np.array([names.index(t) for t in tasks])
    models = scores.shape[1]
    coef = np.zeros((len(names), models, x.shape[1]))
    intercept = np.zeros((len(names), models))
    rates = np.zeros((len(names), models))
    for k, _task in enumerate(names):
        rows = index == k
        rates[k] = (scores[rows].sum(axis=0) + 1.0) / (rows.sum() + 2.0)
        for j in range(models):
            coef[k, j], intercept[k, j] = _logistic(seen[rows], scores[rows, j])
    if len(names) > 1:
        classifier = LogisticRegression(C=10.0, max_iter=1000).fit(x, index)
        task_coef = np.asarray(classifier.coef_, dtype=np.float64)
        task_intercept = np.asarray(classifier.intercept_, dtype=np.float64)
        if len(names) == 2:  # scikit-learn's binary form: one row for the second class
            task_coef = np.vstack([np.zeros_like(task_coef), task_coef])
            task_intercept = np.concatenate([[0.0], task_intercept])
    else:
        task_coef = np.zeros((1, x.shape[1]))
        task_intercept = np.zeros(1)
    return {
        "task_names": np.array(names),
        "preamble_tasks": np.array(list(preambles)),
        "preambles": np.array([preambles[t] for t in preambles]),
        "coef": coef,
        "intercept": intercept,
        "rates": rates,
        "task_coef": task_coef,
        "task_intercept": task_intercept,
        "task_only": np.array(task_only),
        "feature_version": np.array(FEATURE_VERSION),
    }


class AbilityModel:
    """A fitted `ability` estimator, from the arrays `fit_arrays` made (or a file held)."""

    def __init__(self, arrays: Mapping[str, Any]) -> None:
        self.tasks = tuple(str(t) for t in arrays["task_names"])
        self.preambles = {
            str(t): str(p)
            for t, p in zip(arrays["preamble_tasks"], arrays["preambles"], strict=True)
        }
        self.coef = np.asarray(arrays["coef"], dtype=np.float64)
        self.intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        self.rates = np.asarray(arrays["rates"], dtype=np.float64)
        self.task_coef = np.asarray(arrays["task_coef"], dtype=np.float64)
        self.task_intercept = np.asarray(arrays["task_intercept"], dtype=np.float64)
        self.task_only = bool(arrays["task_only"])
        version = int(arrays["feature_version"]) if "feature_version" in arrays else 1
        if version != FEATURE_VERSION:
            raise ValueError(
                f"fitted on prompt features version {version}, this build computes version "
                f"{FEATURE_VERSION}: fit it again"
            )
        tasks, models, width = self.coef.shape
        if self.intercept.shape != (tasks, models) or self.rates.shape != (tasks, models):
            raise ValueError("the ability arrays disagree on tasks x models")
        if self.task_coef.shape != (tasks, width) or len(self.tasks) != tasks:
            raise ValueError("the task classifier does not match the tasks")

    def task_probabilities(
        self, own: Sequence[str], named: Sequence[str | None], x: Matrix
    ) -> Matrix:
        logits = x @ self.task_coef.T + self.task_intercept
        logits -= logits.max(axis=1, keepdims=True)
        probabilities: Matrix = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        for row, task in enumerate(named):
            if task is not None and task in self.tasks:
                probabilities[row] = 0.0
                probabilities[row, self.tasks.index(task)] = 1.0
        return probabilities

    def logits(self, prompts: Sequence[str]) -> tuple[Matrix, Matrix]:
        """Per task, each model's logit of success (prompts x tasks x models), and the
        probability of each task (prompts x tasks)."""
        split = [strip_preamble(p, self.preambles) for p in prompts]
        own = [rest for rest, _ in split]
        x = features(own)
        logits: Matrix = np.einsum("nd,tmd->ntm", x, self.coef) + self.intercept
        return logits, self.task_probabilities(own, [t for _, t in split], x)

    def predict(self, prompts: Sequence[str]) -> Matrix:
        logits, tasks = self.logits(prompts)
        result: Matrix = np.einsum("nt,ntm->nm", tasks, 1.0 / (1.0 + np.exp(-logits)))
        return result

    def deviation(self, logits: Matrix) -> Matrix:
        """The prompt's shared deviation per task: how much easier or harder than usual the
        covered models find it, in logits (prompts x tasks)."""
        usual = np.log(self.rates / (1.0 - self.rates))
        result: Matrix = (logits - usual).mean(axis=2)
        return result


# Which benchmarks speak for each task in outcome data; other tasks use every score.
TASK_SCORES: dict[str, tuple[str, ...]] = {
    "arc-challenge": ("ARC-Challenge",),
    "winogrande": ("Winogrande",),
    "mbpp": ("MBPP", "HumanEval"),
}
SCORE_SCALE = {"MT-Bench": 10.0}


def benchmark_score(scores: Sequence[tuple[str, float]], task: str) -> float | None:
    """The model's benchmark score for a task as a fraction: the task's own benchmarks when
    it has them, else the mean of all its scores."""
    wanted = TASK_SCORES.get(task)
    values = [s / SCORE_SCALE.get(n, 100.0) for n, s in scores if not wanted or n in wanted]
    if not values and wanted:
        values = [s / SCORE_SCALE.get(n, 100.0) for n, s in scores]
    return sum(values) / len(values) if values else None


class ColdStart:
    """A learned map, per task, from a model's benchmark score to its ability (the logit of
    its success rate), fitted on the outcome models the catalog also scores."""

    MIN_MODELS = 3

    def __init__(self, lines: Mapping[str, tuple[float, float]], fitted_on: int) -> None:
        self.lines = dict(lines)  # task → (intercept, slope)
        self.fitted_on = fitted_on

    @classmethod
    def fit(cls, pairs: Mapping[str, Sequence[tuple[float, float]]]) -> ColdStart:
        """`pairs`: per task, (benchmark score, success rate) of each covered model."""
        lines = {}
        count = 0
        for task, points in pairs.items():
            if len(points) < cls.MIN_MODELS:
                continue
            x = np.array([s for s, _ in points])
            rate = np.clip(np.array([r for _, r in points]), 0.01, 0.99)
            y = np.log(rate / (1 - rate))
            if np.ptp(x) < 1e-6:
                continue
            slope, intercept = np.polyfit(x, y, 1)
            lines[task] = (float(intercept), max(0.0, float(slope)))  # better scores never hurt
            count = max(count, len(points))
        return cls(lines, count)

    def ability(self, task: str, score: float | None) -> float | None:
        line = self.lines.get(task)
        if line is None or score is None:
            return None
        return line[0] + line[1] * score
