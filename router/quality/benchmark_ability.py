"""One ability model across benchmarks: every verified score of the catalog in one fit.

Each (model, reasoning mode) is a *subject*; each benchmark, or the version or variant a
setting names ("Arena-Hard v2", "TAU-bench airline"), an *item*. A published score is read
on a logit scale that starts at the benchmark's floor (most of its chance level: a guess
among MMLU's four options scores 25) and explained as

    logit(share above floor) ≈ slope[item] · ability[subject, task]
                               + loading[item] · factors[subject] - difficulty[item]
                               + vote · (majority vote over many samples, e.g. cons@64)
    ability[subject, task] = general[subject] + specific[subject, task]

with the benchmark's task from catalog.benchmarks. The two latent factors catch what the
tasks do not: within maths, AIME rewards long reasoning far more than GSM8K does, and
Arena-Hard rewards chat tuning that MMLU does not see. An item's slope and difficulty are
shrunk towards its benchmark's (versions differ in difficulty, but a version scored twice
still borrows its benchmark's scale).

A subject's abilities are shrunk towards a prior: `general` towards a regression on the
subject's family, size (log parameters) and kind (its reasoning mode, else tuned to chat or
pretrained only), `specific` towards the kind's typical deviation on that task (thinking
lifts maths far more than chat; a base model trails at 0-shot code). So a model with one
score borrows from models like it, and a model scored on MMLU only is still placed on
MMLU-Pro's scale: both benchmarks share the models scored on both.

The fit alternates ridge solves (subjects given items, the prior given subjects, items given
subjects, benchmarks given items, the vote effect) in numpy: about 80 ms for the seeded
catalog, run off the request path (router/quality/estimators.py). The posterior covariance
of each subject's abilities gives the interval. The constants below were chosen by k-fold
hold-out (`modelyard router eval-ability`) on shuffles other than the one it reports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from catalog.benchmarks import BENCHMARK_TASKS, CHANCE, SCALE, TASKS
from catalog.snapshot import CatalogSnapshot, ModelView, ScoreView
from router.quality.score_settings import (
    EFFORTS,
    benchmark_of,
    is_vote,
    item_of,
    mode_for_effort,
    mode_of,
)

Vector = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]

Z90 = 1.645  # the interval is the central 90%
EDGE = 0.005  # scores of 0 or 100 are read as 0.5 / 99.5: the logit must stay finite
TAU_GENERAL = 1.0  # prior sd of a subject's general ability around family, size and kind
TAU_TASK = 0.3  # prior sd of a task's deviation from the general ability
KIND_RIDGE = 2.0  # ridge weight on a kind's (mode's) typical deviation per task
SLOPE_PRIOR = 2.0  # prior precision pulling each benchmark's slope towards 1
VERSION_SLOPE = 25.0  # prior precision pulling a version's slope towards its benchmark's
VERSION_DIFFICULTY = 1.0  # prior precision pulling a version's difficulty to its benchmark's
VOTE_RIDGE = 1.0  # prior precision of the majority-vote effect around 0
FACTORS = 2  # latent factors beyond the task abilities
FACTOR_RIDGE = 4.0  # prior precision of an item's loading on a factor
FACTOR_START = 5  # the iteration that starts the factors from the residuals
# The link's floor as a share of a multiple-choice benchmark's chance level: small models
# score below chance on GPQA-Diamond, and the full level would put them at -∞.
FLOOR_SHARE = 0.8
PRIOR_RIDGE = 1.0  # ridge weight on family offsets in the prior's regression
MIN_NOISE = 0.5  # floor of the residual variance (logit units): the training residual
# underestimates it (each subject has 10 unknowns)
ITERATIONS = 60
LINEAGE_SD = 0.35  # extra prior sd when a model borrows its nearest scored ancestor's fit

__all__ = [
    "EFFORTS",
    "AbilityFit",
    "Observation",
    "fit",
    "item_of",
    "mode_for_effort",
    "mode_of",
    "observations",
    "scores_by_subject",
    "spearman",
]


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
    # The benchmark and the version its setting names ("Arena-Hard v2", "LiveCodeBench v5").
    item: str = ""
    vote: bool = False  # a majority vote over several samples (cons@64)

    def __post_init__(self) -> None:
        if not self.item:
            object.__setattr__(self, "item", self.benchmark)


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
                        is_vote(fact.setting),
                    )
                )
    return found


@dataclass(frozen=True)
class SubjectFit:
    index: int
    mean: Vector  # abilities per task (len(TASKS))
    sd: Vector  # their posterior sd per task
    scored: int  # how many scores the subject has
    factors: Vector = field(default_factory=lambda: np.zeros(0))  # its latent factors


@dataclass
class AbilityFit:
    """The fitted model: item slopes and difficulties, each subject's abilities."""

    benchmarks: list[str]  # the fit's items: benchmarks, or benchmark versions
    tasks: list[int]  # each item's task (index into TASKS)
    slope: Vector
    difficulty: Vector
    subjects: dict[tuple[str, str], SubjectFit]
    noise: float
    beta: Vector  # the prior's regression on family, size and kind
    families: list[str]
    kind_task: dict[str, Vector] = field(default_factory=dict)  # kind → deviation per task
    vote: float = 0.0  # the majority-vote effect (logit)
    loading: Matrix = field(default_factory=lambda: np.zeros((0, 0)))  # per item, per factor
    # Per task, the benchmarks whose mean predicted share is the task's probability.
    reference: dict[str, list[int]] = field(default_factory=dict)
    floor: Vector = field(init=False)  # each item's floor (percentage)

    def __post_init__(self) -> None:
        self.floor = np.array([_floor(benchmark_of(item)) for item in self.benchmarks])
        if self.loading.size == 0:
            self.loading = np.zeros((len(self.benchmarks), 0))

    def _score(self, items: list[int] | int, ability: float, factors: Vector) -> Vector:
        """Predicted scores (percentages) on items, by one sample."""
        value = self.slope[items] * ability + self.loading[items] @ factors
        share = _sigmoid(value - self.difficulty[items])
        return np.asarray(self.floor[items] + share * (100.0 - self.floor[items]))

    def predict_score(self, model: str, mode: str, item: str, vote: bool = False) -> float | None:
        """The predicted score (percentage) of a subject on an item of the fit (a benchmark,
        or a benchmark version: see `item_of`), by one sample unless `vote`."""
        subject = self.subjects.get((model, mode))
        if subject is None or item not in self.benchmarks:
            return None
        b = self.benchmarks.index(item)
        if not vote:
            return float(self._score(b, float(subject.mean[self.tasks[b]]), subject.factors))
        value = self.slope[b] * subject.mean[self.tasks[b]] + self.loading[b] @ subject.factors
        share = float(_sigmoid(value - self.difficulty[b] + self.vote))
        return float(self.floor[b] + share * (100.0 - self.floor[b]))

    def predict(self, o: Observation) -> float | None:
        """The predicted score of an observation's subject, item and sampling."""
        return self.predict_score(o.model, o.mode, o.item, o.vote)

    def prior_ability(self, view: ModelView | None, mode: str, task: str) -> float:
        """The ability on a task that a model's family, size and mode predict."""
        general = float(_feature_row(view, mode, self.families) @ self.beta)
        specific = self.kind_task.get(_kind(view, mode))
        return general + (float(specific[TASKS.index(task)]) if specific is not None else 0.0)

    def task_probability(self, ability: float, task: str, factors: Vector | None = None) -> float:
        """The mean share a subject of this ability (and latent factors, 0 where unknown)
        scores on the task's reference benchmarks: the probability of a good answer to a
        prompt of the task."""
        ref = self.reference.get(task)
        if not ref:
            return float(_sigmoid(ability))
        known = np.zeros(self.loading.shape[1]) if factors is None else factors
        return float(np.mean(self._score(ref, ability, known))) / 100.0


# What a subject is, beyond its size and family: its reasoning mode, else whether the model is
# tuned to chat ("") or pretrained only (the catalog gives it no chat capability).
_KINDS = ("thinking", "non-thinking", "base", *(f"reasoning-{e}" for e in EFFORTS), "pretrained")


def _kind(view: ModelView | None, mode: str) -> str:
    """A subject's kind: its mode, "" for a chat model without one, else "pretrained"."""
    if mode or view is None or "chat" in view.capabilities:
        return mode
    return "pretrained"


def _feature_row(view: ModelView | None, mode: str, families: Sequence[str]) -> Vector:
    """A subject's prior features: intercept, log2 size in billions (a flag where unknown),
    kind flags, family one-hot (over the fit's families)."""
    row = np.zeros(3 + len(_KINDS) + len(families))
    row[0] = 1.0
    if view is not None and view.parameters:
        row[1] = math.log2(view.parameters / 1e9)
    else:
        row[2] = 1.0
    kind = _kind(view, mode)
    if kind in _KINDS:
        row[3 + _KINDS.index(kind)] = 1.0
    if view is not None and view.family in families:
        row[3 + len(_KINDS) + families.index(view.family)] = 1.0
    return row


def _sum_by(group: Indices, values: Matrix, groups: int) -> Matrix:
    """Rows of `values` summed by group (np.add.at, but several times faster)."""
    width = values.shape[1]
    index = (group[:, None] * width + np.arange(width)).ravel()
    summed = np.bincount(index, weights=values.ravel(), minlength=groups * width)
    return summed.reshape(groups, width).astype(np.float64)


def _index(keys: Sequence[object]) -> tuple[list[object], Indices]:
    """The distinct keys in order of first sight, and each key's position among them."""
    distinct = list(dict.fromkeys(keys))
    where = {k: i for i, k in enumerate(distinct)}
    return distinct, np.array([where[k] for k in keys], dtype=np.int64)


def _floor(benchmark: str) -> float:
    """The score the logit link starts from: most of a multiple-choice benchmark's chance
    level (a guess among 4 options scores 25), none for an open answer."""
    return FLOOR_SHARE * CHANCE.get(benchmark, 0.0)


@dataclass
class _Design:
    """The observations as index arrays: subject, item, task of each score; kind of each
    subject; benchmark of each item; the prior's regressors per subject."""

    y: Vector  # logit of each score above its benchmark's floor
    voted: Vector  # 1.0 for a majority-vote score
    s: Indices
    i: Indices
    t: Indices
    subjects: list[tuple[str, str]]
    items: list[str]
    kind_of: Indices  # per subject, index into `kinds`
    kinds: list[str]
    bench_of: Indices  # per item
    features: Matrix
    ridge: Vector  # the prior regression's ridge per column
    families: list[str]

    @classmethod
    def of(cls, obs: Sequence[Observation], models: Mapping[str, ModelView]) -> _Design:
        subjects = sorted({(o.model, o.mode) for o in obs})
        items = sorted({o.item for o in obs})
        s_index = {k: n for n, k in enumerate(subjects)}
        i_index = {k: n for n, k in enumerate(items)}
        kinds, kind_of = _index([_kind(models.get(m), mode) for m, mode in subjects])
        _, bench_of = _index([benchmark_of(item) for item in items])
        families = sorted({models[m].family for m, _ in subjects if m in models})
        features = np.array([_feature_row(models.get(m), mode, families) for m, mode in subjects])
        ridge = np.full(features.shape[1], 1e-3)
        ridge[3 + len(_KINDS) :] = PRIOR_RIDGE
        floor = np.array([_floor(o.benchmark) for o in obs])
        share = (np.array([o.score for o in obs]) - floor) / (100.0 - floor)
        return cls(
            _logit(share),
            np.array([1.0 if o.vote else 0.0 for o in obs]),
            np.array([s_index[(o.model, o.mode)] for o in obs], dtype=np.int64),
            np.array([i_index[o.item] for o in obs], dtype=np.int64),
            np.array([TASKS.index(BENCHMARK_TASKS[o.benchmark]) for o in obs], dtype=np.int64),
            subjects,
            items,
            kind_of,
            [str(k) for k in kinds],
            bench_of,
            features,
            ridge,
            families,
        )


def _items_given_subjects(
    d: _Design, z: Matrix, y: Vector, noise: float, slope_b: Vector, offset_b: Vector
) -> Matrix:
    """Each item's coefficients on z = (ability on its task, factors…, 1): its slope pulled
    towards its benchmark's, its loadings towards 0, its offset (-difficulty) towards its
    benchmark's. One small ridge solve per item, batched."""
    n_i, p = len(d.items), z.shape[1]
    prior = np.array([VERSION_SLOPE] + [FACTOR_RIDGE] * (p - 2) + [VERSION_DIFFICULTY])
    outer = (z[:, :, None] * z[:, None, :]).reshape(len(y), p * p) / noise
    gram = _sum_by(d.i, outer, n_i).reshape(n_i, p, p) + np.diag(prior)
    centre = np.zeros((n_i, p))
    centre[:, 0], centre[:, -1] = slope_b[d.bench_of], offset_b[d.bench_of]
    rhs = _sum_by(d.i, z * (y / noise)[:, None], n_i) + centre * prior
    coef = np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
    coef[:, 0] = np.clip(coef[:, 0], 0.2, 5.0)
    return np.asarray(coef, dtype=np.float64)


def _benchmarks_given_items(d: _Design, slope: Vector, offset: Vector) -> tuple[Vector, Vector]:
    """A benchmark's slope and offset from its items': the slope pulled towards 1, the
    offset their mean (a benchmark with one item takes that item's)."""
    n_b = int(d.bench_of.max()) + 1
    versions = np.bincount(d.bench_of, minlength=n_b).astype(np.float64)
    slope_sum = np.bincount(d.bench_of, weights=slope, minlength=n_b)
    # The slope prior splits in two: towards 1 for the benchmark, towards the benchmark for
    # its items; in series they pull a one-version benchmark towards 1 with SLOPE_PRIOR.
    towards_one = SLOPE_PRIOR * VERSION_SLOPE / (VERSION_SLOPE - SLOPE_PRIOR)
    slope_b = (VERSION_SLOPE * slope_sum + towards_one) / (VERSION_SLOPE * versions + towards_one)
    offset_b = np.bincount(d.bench_of, weights=offset, minlength=n_b) / versions
    return slope_b, offset_b


def _residual_factors(d: _Design, residual: Vector, n_s: int) -> tuple[Matrix, Matrix]:
    """Starting factors and loadings: the leading components of the residuals as a table of
    subjects by items (0 where a subject has no score); zeros beyond the table's rank."""
    table = np.zeros((n_s, len(d.items)))
    np.add.at(table, (d.s, d.i), residual)
    u, sv, vt = np.linalg.svd(table, full_matrices=False)
    factors, loading = np.zeros((n_s, FACTORS)), np.zeros((len(d.items), FACTORS))
    rank = min(FACTORS, len(sv))
    root = np.sqrt(sv[:rank])
    factors[:, :rank], loading[:, :rank] = u[:, :rank] * root, vt[:rank].T * root
    return factors, loading


def fit(obs: Sequence[Observation], models: Mapping[str, ModelView]) -> AbilityFit:
    """Fit the ability model to a list of scores (see the module's docstring)."""
    d = _Design.of(obs, models)
    n_s, n_i, n_t, n_k = len(d.subjects), len(d.items), len(TASKS), len(d.kinds)
    k = 1 + n_t + FACTORS  # a subject's unknowns: general, per task, factors
    y, rows = d.y, np.arange(len(d.y))
    slope = np.ones(n_i)
    offset = np.bincount(d.i, weights=y, minlength=n_i) / np.bincount(d.i, minlength=n_i)
    loading = np.zeros((n_i, FACTORS))
    slope_b, offset_b = _benchmarks_given_items(d, slope, offset)
    own = np.array([1 / TAU_GENERAL**2] + [1 / TAU_TASK**2] * n_t + [1.0] * FACTORS)
    beta = np.zeros(d.features.shape[1])
    kind_task = np.zeros((n_k, n_t))
    vote, noise = 0.0, 0.25
    mean = np.zeros((n_s, k))
    cov: Matrix = np.zeros((n_s, k, k))
    x = np.zeros((len(y), k))
    gram = d.features.T @ d.features + np.diag(d.ridge)
    kinds = np.bincount(d.kind_of, minlength=n_k).astype(np.float64)
    for step in range(ITERATIONS):
        # Subjects given items: one k-sized ridge solve per subject, batched.
        x[rows, 0] = slope[d.i]
        x[rows, 1 + d.t] = slope[d.i]
        x[:, 1 + n_t :] = loading[d.i]
        outer = (x[:, :, None] * x[:, None, :]).reshape(len(y), k * k) / noise
        precision = np.diag(own) + _sum_by(d.s, outer, n_s).reshape(n_s, k, k)
        prior = np.zeros((n_s, k))
        prior[:, 0] = d.features @ beta
        prior[:, 1 : 1 + n_t] = kind_task[d.kind_of]
        target = (y - offset[d.i] - vote * d.voted) / noise
        rhs = prior * own + _sum_by(d.s, x * target[:, None], n_s)
        cov = np.linalg.inv(precision).astype(np.float64)
        mean = np.einsum("sij,sj->si", cov, rhs)
        # The prior: family, size and kind for `general`; the kind's mean deviation per task.
        beta = np.linalg.solve(gram, d.features.T @ mean[:, 0])
        kind_task = _sum_by(d.kind_of, mean[:, 1 : 1 + n_t], n_k) / (kinds[:, None] + KIND_RIDGE)
        # Items given subjects, then benchmarks given items.
        theta = mean[d.s, 0] + mean[d.s, 1 + d.t]
        factors = mean[d.s, 1 + n_t :]
        z = np.column_stack([theta, factors, np.ones(len(y))])
        coef = _items_given_subjects(d, z, y - vote * d.voted, noise, slope_b, offset_b)
        slope, loading, offset = coef[:, 0], coef[:, 1:-1], coef[:, -1]
        slope_b, offset_b = _benchmarks_given_items(d, slope, offset)
        fitted = slope[d.i] * theta + np.sum(loading[d.i] * factors, axis=1) + offset[d.i]
        if d.voted.any():
            vote = float(np.sum((y - fitted) * d.voted) / (np.sum(d.voted) + VOTE_RIDGE * noise))
        residual = y - fitted - vote * d.voted
        noise = max(MIN_NOISE, float(np.mean(residual**2)))
        if FACTORS and step == FACTOR_START:
            mean[:, 1 + n_t :], loading = _residual_factors(d, residual, n_s)
    return _result(d, mean, cov, slope, offset, loading, noise, beta, kind_task, vote)


def _result(
    d: _Design,
    mean: Matrix,
    cov: Matrix,
    slope: Vector,
    offset: Vector,
    loading: Matrix,
    noise: float,
    beta: Vector,
    kind_task: Matrix,
    vote: float,
) -> AbilityFit:
    n_t = len(TASKS)
    counts = np.bincount(d.s, minlength=len(d.subjects))
    fitted = {}
    for n, subject in enumerate(d.subjects):
        # Per task: var(general + specific) from the subject's posterior covariance (the
        # factors' share is left out: their loadings are small next to the slopes).
        var = cov[n, 0, 0] + np.diagonal(cov[n])[1 : 1 + n_t] + 2 * cov[n, 0, 1 : 1 + n_t]
        fitted[subject] = SubjectFit(
            n,
            mean[n, 0] + mean[n, 1 : 1 + n_t],
            np.sqrt(np.maximum(var, 0)),
            int(counts[n]),
            mean[n, 1 + n_t :].copy(),
        )
    tasks = [TASKS.index(BENCHMARK_TASKS[benchmark_of(name)]) for name in d.items]
    result = AbilityFit(
        d.items,
        tasks,
        slope,
        -offset,
        fitted,
        noise,
        beta,
        d.families,
        {kind: kind_task[n] for n, kind in enumerate(d.kinds)},
        vote,
        loading,
    )
    for task in TASKS:
        own = [n for n, k in enumerate(tasks) if TASKS[k] == task]
        result.reference[task] = [n for n in own if np.sum(d.i == n) >= 3] or own
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
