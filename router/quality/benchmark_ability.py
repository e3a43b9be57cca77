"""One ability model across benchmarks: every verified score of the catalog in one fit.

Each (model, reasoning mode) is a *subject*. A published score is read on the logit scale
and explained as

    logit(score) ≈ slope[benchmark] · ability[subject, task] - difficulty[benchmark]
    ability[subject, task] = general[subject] + specific[subject, task]

with the benchmark's task from catalog.benchmarks. `general` is shrunk towards a prior from
the subject's family, size (log parameters) and mode, `specific` towards 0, so a model with
one score borrows from models like it, and a model scored on MMLU only is still placed on
MMLU-Pro's scale: both benchmarks share the models scored on both (older generations are
linked, not mixed). Reasoning modes (Qwen3 thinking on/off, gpt-oss reasoning low/medium/
high) are separate subjects, because their scores differ as much as models do.

The fit alternates ridge solves (subjects given benchmarks, benchmarks given subjects, the
prior given the subjects) in numpy: a few milliseconds for the seeded catalog. The
posterior covariance of each subject's abilities gives the interval.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from catalog.benchmarks import BENCHMARK_TASKS, SCALE, TASKS
from catalog.snapshot import CatalogSnapshot, ModelView, ScoreView

Vector = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]

Z90 = 1.645  # the interval is the central 90%
EDGE = 0.005  # scores of 0 or 100 are read as 0.5 / 99.5: the logit must stay finite
TAU_GENERAL = 1.0  # prior sd of a subject's general ability around family, size and mode
TAU_TASK = 0.3  # prior sd of a task's deviation from the general ability (tuned held-out)
SLOPE_PRIOR = 4.0  # ridge weight pulling each benchmark's slope towards 1
PRIOR_RIDGE = 1.0  # ridge weight on family offsets in the prior's regression
MIN_NOISE = 0.5  # floor of the residual variance (logit units): the training residual
# underestimates it (each subject has 8 abilities); 0.5 gave the best held-out MAE
ITERATIONS = 40
LINEAGE_SD = 0.35  # extra prior sd when a model borrows its nearest scored ancestor's fit

_NON_THINKING = re.compile(r"\b(thinking\s*(off|disabled)|non[- ]?thinking|no[- ]thinking)\b", re.I)
_THINKING = re.compile(r"\bthinking(\s*(on|enabled|mode))?\b", re.I)
_BASE = re.compile(r"\bbase model\b", re.I)
_EFFORT = re.compile(r"\breasoning(?:[_ ]effort)?[:= ]\s*(low|medium|high)\b", re.I)
EFFORTS = ("low", "medium", "high")


def mode_of(setting: str) -> str:
    """The reasoning mode a score's setting names: "thinking", "non-thinking",
    "reasoning-low|medium|high", "base" (a base model's few-shot score filed under the
    released model), or "" when it names none."""
    if _BASE.search(setting):
        return "base"
    effort = _EFFORT.search(setting)
    if effort:
        return f"reasoning-{effort.group(1).lower()}"
    if _NON_THINKING.search(setting):
        return "non-thinking"
    if _THINKING.search(setting):
        return "thinking"
    return ""


def mode_for_effort(modes: Iterable[str], effort: str | None) -> str | None:
    """The subject a request's `reasoning_effort` reaches among a model's scored modes:
    low/medium/high → that effort (or thinking); none/minimal → non-thinking; no effort given
    → the unmarked mode, else non-thinking, else the lowest effort (the cautious reading);
    else any mode the model was scored in. None only for a model without scores."""
    known = set(modes)
    if effort in EFFORTS:
        order = [f"reasoning-{effort}", "thinking", "", "reasoning-medium", "non-thinking"]
    elif effort in ("none", "minimal"):
        order = ["non-thinking", "", "reasoning-low"]
    else:
        order = ["", "non-thinking", "reasoning-low", "reasoning-medium", "thinking"]
    # A mode the order does not name is still the model's own, better than none at all.
    return next((m for m in [*order, *sorted(known)] if m in known), None)


def _logit(p: Vector) -> Vector:
    p = np.clip(p, EDGE, 1 - EDGE)
    return np.log(p / (1 - p))


def _sigmoid(x: Vector | float) -> Vector:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class Observation:
    model: str  # hf_id
    mode: str
    benchmark: str
    score: float  # percentage
    # The benchmark and the version its setting names ("Arena-Hard v2", "LiveCodeBench v5"):
    # versions differ in difficulty, so each is its own item of the fit.
    item: str = ""

    def __post_init__(self) -> None:
        if not self.item:
            object.__setattr__(self, "item", self.benchmark)


# "BFCL v3", "Arena-Hard v2"; not a model's name such as "DeepSeek-V3" in the setting's text.
_VERSION = re.compile(r"(?<![\w-])v(\d+)(?:\.\d+)?\b", re.I)


def item_of(benchmark: str, setting: str) -> str:
    """The fit's item for a score: the benchmark, with the version its setting names."""
    version = _VERSION.search(setting)
    return f"{benchmark} v{version.group(1)}" if version else benchmark


def observations(snapshot: CatalogSnapshot) -> list[Observation]:
    """Every verified score of a known benchmark in the snapshot (unverified ones are not in
    it at all)."""
    found = []
    for model in snapshot.models.values():
        for fact in model.score_facts:
            if fact.benchmark in BENCHMARK_TASKS:
                percent = fact.score * 100.0 / SCALE.get(fact.benchmark, 100.0)
                found.append(
                    Observation(
                        model.hf_id,
                        mode_of(fact.setting),
                        fact.benchmark,
                        percent,
                        item_of(fact.benchmark, fact.setting),
                    )
                )
    return found


@dataclass(frozen=True)
class SubjectFit:
    index: int
    mean: Vector  # abilities per task (len(TASKS))
    sd: Vector  # their posterior sd per task
    scored: int  # how many scores the subject has


@dataclass
class AbilityFit:
    """The fitted model: benchmark slopes and difficulties, each subject's abilities."""

    benchmarks: list[str]  # the fit's items: benchmarks, or benchmark versions
    tasks: list[int]  # each item's task (index into TASKS)
    slope: Vector
    difficulty: Vector
    subjects: dict[tuple[str, str], SubjectFit]
    noise: float
    beta: Vector  # the prior's regression on family, size and mode
    families: list[str]
    # Per task, the benchmarks whose mean predicted share is the task's probability.
    reference: dict[str, list[int]] = field(default_factory=dict)

    def predict_score(self, model: str, mode: str, item: str) -> float | None:
        """The predicted score (percentage) of a subject on an item of the fit (a benchmark,
        or a benchmark version: see `item_of`)."""
        subject = self.subjects.get((model, mode))
        if subject is None or item not in self.benchmarks:
            return None
        b = self.benchmarks.index(item)
        t = self.tasks[b]
        value = self.slope[b] * subject.mean[t] - self.difficulty[b]
        return float(_sigmoid(value)) * 100.0

    def prior_ability(self, view: ModelView | None, mode: str) -> float:
        """The general ability a model's family, size and mode predict."""
        return float(_feature_row(view, mode, self.families) @ self.beta)

    def task_probability(self, ability: float, task: str) -> float:
        """The mean share a subject of this ability scores on the task's reference
        benchmarks: the probability of a good answer to a prompt of the task."""
        ref = self.reference.get(task)
        if not ref:
            return float(_sigmoid(ability))
        values = self.slope[ref] * ability - self.difficulty[ref]
        return float(np.mean(_sigmoid(values)))


def _design(
    obs: Sequence[Observation],
) -> tuple[list[tuple[str, str]], list[str], Indices, Indices, Indices]:
    subjects = sorted({(o.model, o.mode) for o in obs})
    benchmarks = sorted({o.item for o in obs})
    s_index = {s: i for i, s in enumerate(subjects)}
    b_index = {b: i for i, b in enumerate(benchmarks)}
    s = np.array([s_index[(o.model, o.mode)] for o in obs], dtype=np.int64)
    b = np.array([b_index[o.item] for o in obs], dtype=np.int64)
    t = np.array([TASKS.index(BENCHMARK_TASKS[o.benchmark]) for o in obs], dtype=np.int64)
    return subjects, benchmarks, s, b, t


_MODES = ("thinking", "non-thinking", "base", *(f"reasoning-{e}" for e in EFFORTS))


def _feature_row(view: ModelView | None, mode: str, families: Sequence[str]) -> Vector:
    """A subject's prior features: intercept, log2 size in billions (a flag where unknown),
    mode flags, family one-hot (over the fit's families)."""
    row = np.zeros(3 + len(_MODES) + len(families))
    row[0] = 1.0
    if view is not None and view.parameters:
        row[1] = math.log2(view.parameters / 1e9)
    else:
        row[2] = 1.0
    if mode in _MODES:
        row[3 + _MODES.index(mode)] = 1.0
    if view is not None and view.family in families:
        row[3 + len(_MODES) + families.index(view.family)] = 1.0
    return row


def _prior_features(
    subjects: Sequence[tuple[str, str]], models: Mapping[str, ModelView]
) -> tuple[npt.NDArray[np.float64], Vector, list[str]]:
    """The feature matrix of the subjects, the ridge weight of each column, the families."""
    families = sorted({models[m].family for m, _ in subjects if m in models})
    x = np.array([_feature_row(models.get(m), mode, families) for m, mode in subjects])
    ridge = np.full(x.shape[1], 1e-3)
    ridge[3 + len(_MODES) :] = PRIOR_RIDGE
    return x, ridge, families


def _sum_by(group: npt.NDArray[np.int64], values: npt.NDArray[np.float64], groups: int) -> Vector:
    """Rows of `values` summed by group (np.add.at, but several times faster)."""
    width = values.shape[1]
    index = (group[:, None] * width + np.arange(width)).ravel()
    summed = np.bincount(index, weights=values.ravel(), minlength=groups * width)
    return summed.reshape(groups, width).astype(np.float64)


def fit(obs: Sequence[Observation], models: Mapping[str, ModelView]) -> AbilityFit:
    """Fit the ability model to a list of scores (see the module's docstring)."""
    subjects, benchmarks, s, b, t = _design(obs)
    n_s, n_b, n_t = len(subjects), len(benchmarks), len(TASKS)
    y = _logit(np.array([o.score for o in obs]) / 100.0)
    slope = np.ones(n_b)
    difficulty = -np.bincount(b, weights=y, minlength=n_b) / np.maximum(
        np.bincount(b, minlength=n_b), 1
    )
    features, ridge, families = _prior_features(subjects, models)
    beta = np.zeros(features.shape[1])
    noise = 0.25
    k = 1 + n_t
    prior_precision = np.diag([1 / TAU_GENERAL**2] + [1 / TAU_TASK**2] * n_t)
    mean = np.zeros((n_s, k))
    cov: npt.NDArray[np.float64] = np.zeros((n_s, k, k))
    rows = np.arange(len(y))
    for _ in range(ITERATIONS):
        # Subjects given benchmarks: one (1 + tasks)-sized ridge solve per subject, batched.
        x = np.zeros((len(y), k))
        x[rows, 0] = slope[b]
        x[rows, 1 + t] = slope[b]
        outer = (x[:, :, None] * x[:, None, :]).reshape(len(y), k * k) / noise
        precision = prior_precision + _sum_by(s, outer, n_s).reshape(n_s, k, k)
        prior_mean = np.zeros((n_s, k))
        prior_mean[:, 0] = features @ beta
        rhs = prior_mean @ prior_precision + _sum_by(
            s, x * (y + difficulty[b])[:, None] / noise, n_s
        )
        cov = np.linalg.inv(precision).astype(np.float64)
        mean = np.einsum("sij,sj->si", cov, rhs)
        theta = mean[s, 0] + mean[s, 1 + t]
        # Benchmarks given subjects: y = slope·θ - difficulty, slope pulled towards 1.
        count = np.bincount(b, minlength=n_b).astype(np.float64)
        st = np.bincount(b, weights=theta, minlength=n_b)
        stt = np.bincount(b, weights=theta * theta, minlength=n_b)
        sy = np.bincount(b, weights=y, minlength=n_b)
        sty = np.bincount(b, weights=theta * y, minlength=n_b)
        # Normal equations of (slope, -difficulty) with the ridge on slope - 1.
        a11, a12, a22 = stt + SLOPE_PRIOR * noise, st, count + 1e-6
        r1, r2 = sty + SLOPE_PRIOR * noise, sy
        det = a11 * a22 - a12 * a12
        slope = np.clip((r1 * a22 - a12 * r2) / det, 0.2, 5.0)
        difficulty = -(a11 * r2 - a12 * r1) / det
        # The prior's regression (family, size, mode) on the general abilities.
        gram = features.T @ features + np.diag(ridge)
        beta = np.linalg.solve(gram, features.T @ mean[:, 0])
        residual = y - (slope[b] * theta - difficulty[b])
        noise = max(MIN_NOISE, float(np.mean(residual**2)))
    counts = np.bincount(s, minlength=n_s)
    fitted = {}
    for i, subject in enumerate(subjects):
        # Per task: var(general + specific) from the subject's posterior covariance.
        var = cov[i, 0, 0] + np.diagonal(cov[i])[1:] + 2 * cov[i, 0, 1:]
        fitted[subject] = SubjectFit(
            i, mean[i, 0] + mean[i, 1:], np.sqrt(np.maximum(var, 0)), int(counts[i])
        )
    tasks = [TASKS.index(BENCHMARK_TASKS[name.split(" v")[0]]) for name in benchmarks]
    result = AbilityFit(benchmarks, tasks, slope, difficulty, fitted, noise, beta, families)
    for task in TASKS:
        own = [i for i, k in enumerate(tasks) if TASKS[k] == task]
        result.reference[task] = [i for i in own if np.sum(b == i) >= 3] or own
    return result


def scores_by_subject(
    model: ModelView,
) -> dict[str, list[ScoreView]]:
    """A model's verified scores of known benchmarks, by reasoning mode."""
    found: dict[str, list[ScoreView]] = {}
    for fact in model.score_facts:
        if fact.benchmark in BENCHMARK_TASKS:
            found.setdefault(mode_of(fact.setting), []).append(fact)
    return found


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (ties take their mean rank)."""

    def ranks(values: Sequence[float]) -> Vector:
        array = np.asarray(values, dtype=np.float64)
        order = np.argsort(array, kind="mergesort")
        ranked = np.empty(len(array))
        ranked[order] = np.arange(len(array), dtype=np.float64)
        for value in np.unique(array):
            tied = array == value
            ranked[tied] = ranked[tied].mean()
        return ranked

    if len(a) < 3:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
