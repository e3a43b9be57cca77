"""A quality estimator learned from outcome data.

The prompt becomes a TF-IDF vector (scikit-learn); per model, either a logistic regression
(`logreg`, the default) or the smoothed success rate of the k most similar training prompts
(`knn`) gives the probability of a good answer. Measured on shared/data/routing by
cross-validation (`modelyard router eval --folds 5`): see docs/quality.md's figures. A small cost
model per model (USD per prompt token plus a fixed answer cost, fitted by least squares)
lets an evaluation decide on the router's own estimates instead of the file's costs.

Saved as one compressed `.npz` of plain arrays (no pickle): loading a file runs no code.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from catalog.snapshot import CatalogSnapshot, ModelView
from router.core.errors import RouterError
from router.core.tokens import DEFAULT_COMPLETION_TOKENS, estimate_tokens
from router.quality.ability import (
    TASK_SCORES,
    AbilityModel,
    ColdStart,
    benchmark_score,
    fit_arrays,
    warm_embedder,
)
from router.quality.estimators import Estimate, QualityEstimator
from router.quality.outcomes import Outcomes

Method = Literal["ability", "logreg", "knn", "task"]
# ability: per task, each model's success from the prompt's embedding (router/quality/ability.py);
# task: each model's success rate on the prompt's task alone (the task-prior baseline);
# logreg: TF-IDF over the whole prompt, one logistic regression per model (the other baseline).
METHODS: tuple[Method, ...] = ("ability", "logreg", "knn", "task")
ABILITY_METHODS = ("ability", "task")
FORMAT = "modelyard-quality/1"
KNN_NEIGHBOURS = 30
KNN_PRIOR_WEIGHT = 2.0  # pseudo-prompts of the model's overall rate, so few neighbours don't decide
MAX_FEATURES = 20_000

# RouterBench's model names → catalog ids. Only open models the catalog can route to; the
# hosted proprietary ones (GPT-4, Claude) stay candidates in evaluations alone.
CATALOG_NAMES: dict[str, str] = {
    "meta/llama-2-70b-chat": "meta-llama/Llama-2-70b-chat-hf",
    "mistralai/mistral-7b-chat": "mistralai/Mistral-7B-Instruct-v0.2",
    "mistralai/mixtral-8x7b-chat": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "zero-one-ai/Yi-34B-Chat": "01-ai/Yi-34B-Chat",
    "WizardLM/WizardLM-13B-V1.2": "WizardLMTeam/WizardLM-13B-V1.2",
    "meta/code-llama-instruct-34b-chat": "codellama/CodeLlama-34b-Instruct-hf",
}


# The benchmarks the outcome data's tasks map to (router/quality/ability.py's TASK_SCORES).
COLD_START_BENCHMARKS = tuple(dict.fromkeys(b for names in TASK_SCORES.values() for b in names))


class EstimatorFileError(RouterError):
    code = "invalid_estimator"


Matrix = npt.NDArray[np.float64]


def _vectorizer(vocabulary: Sequence[str] | None = None) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer  # ~0.5 s: only when used

    return TfidfVectorizer(
        sublinear_tf=True,
        min_df=2 if vocabulary is None else 1,
        max_features=MAX_FEATURES if vocabulary is None else None,
        vocabulary=vocabulary,
        dtype=np.float64,
    )


def _logistic_fit(features: Any, scores: npt.NDArray[np.float64]) -> tuple[Matrix, Matrix]:
    """One logistic regression per model. Scores may be fractional: each prompt counts as a
    success with weight s and a failure with weight 1 - s, which is the same log-loss."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    n, models = scores.shape
    doubled = sp.vstack([features, features]).tocsr()
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    coef = np.zeros((models, features.shape[1]))
    intercept = np.zeros(models)
    for j in range(models):
        weights = np.concatenate([scores[:, j], 1.0 - scores[:, j]])
        rate = (scores[:, j].sum() + 1.0) / (n + 2.0)
        if min(scores[:, j].sum(), n - scores[:, j].sum()) < 1e-9:
            intercept[j] = np.log(rate / (1.0 - rate))  # one class only: the smoothed rate
            continue
        keep = weights > 0
        fitted = LogisticRegression(C=1.0, max_iter=2000).fit(
            doubled[keep], labels[keep], sample_weight=weights[keep]
        )
        coef[j] = fitted.coef_[0]
        intercept[j] = fitted.intercept_[0]
    return coef, intercept


def _cost_model(prompts: Sequence[str], costs: Matrix) -> tuple[Matrix, Matrix]:
    """Per model: cost ≈ per_token x estimated prompt tokens + fixed (the answer's share),
    both kept ≥ 0. The router's token estimate is the regressor, so the decision's own
    arithmetic reproduces these costs."""
    tokens = np.array([estimate_tokens(p, 1) for p in prompts], dtype=np.float64)
    design = np.column_stack([tokens, np.ones_like(tokens)])
    solution, *_ = np.linalg.lstsq(design, costs, rcond=None)
    per_token, fixed = solution[0].copy(), solution[1].copy()
    for j in range(costs.shape[1]):
        if per_token[j] < 0:
            per_token[j], fixed[j] = 0.0, costs[:, j].mean()
        elif fixed[j] < 0:
            per_token[j], fixed[j] = float(costs[:, j] @ tokens / (tokens @ tokens)), 0.0
    return per_token, fixed


@dataclass
class LearnedQuality:
    """A fitted estimator: everything needed to predict, as plain arrays."""

    method: Method
    models: tuple[str, ...]
    vocabulary: tuple[str, ...]
    idf: Matrix
    cost_per_token: Matrix
    cost_fixed: Matrix
    names: dict[str, str]  # outcome model name → catalog id or alias
    meta: dict[str, Any]
    coef: Matrix | None = None  # logreg: models x features
    intercept: Matrix | None = None
    train_rows: Any = None  # knn: the training prompts' TF-IDF rows (CSR)
    train_scores: Matrix | None = None
    ability: dict[str, Any] | None = None  # ability/task: router/quality/ability.py's arrays
    _vectorizer: Any = field(default=None, repr=False)
    _ability_model: Any = field(default=None, repr=False)

    @property
    def ability_model(self) -> AbilityModel:
        if self._ability_model is None:
            assert self.ability is not None
            self._ability_model = AbilityModel(self.ability)
        model: AbilityModel = self._ability_model
        return model

    @property
    def vectorizer(self) -> Any:
        if self._vectorizer is None:
            vectorizer = _vectorizer(self.vocabulary)
            vectorizer.idf_ = self.idf
            self._vectorizer = vectorizer
        return self._vectorizer

    def predict(self, prompts: Sequence[str]) -> Matrix:
        """Probabilities of a good answer, prompts x models."""
        if self.method in ABILITY_METHODS:
            return self.ability_model.predict(prompts)
        features = self.vectorizer.transform(prompts)
        if self.method == "logreg":
            assert self.coef is not None and self.intercept is not None
            logits = np.asarray(features @ self.coef.T) + self.intercept
            return 1.0 / (1.0 + np.exp(-logits))
        assert self.train_scores is not None
        similarity = (features @ self.train_rows.T).toarray()
        # At most a quarter of the training prompts, so that a small file still discriminates.
        k = max(1, min(KNN_NEIGHBOURS, similarity.shape[1] // 4))
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        prior = self.train_scores.mean(axis=0)
        hits = self.train_scores[nearest].sum(axis=1)
        result: Matrix = (hits + KNN_PRIOR_WEIGHT * prior) / (k + KNN_PRIOR_WEIGHT)
        return result

    def estimated_costs(self, prompts: Sequence[str]) -> Matrix:
        tokens = np.array([estimate_tokens(p, 1) for p in prompts], dtype=np.float64)
        result: Matrix = np.outer(tokens, self.cost_per_token) + self.cost_fixed
        return result

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {
            "format": np.array(FORMAT),
            "method": np.array(self.method),
            "models": np.array(self.models),
            "vocabulary": np.array(self.vocabulary),
            "idf": self.idf,
            "cost_per_token": self.cost_per_token,
            "cost_fixed": self.cost_fixed,
            "names": np.array(json.dumps(self.names)),
            "meta": np.array(json.dumps(self.meta)),
        }
        if self.method == "logreg":
            arrays |= {"coef": self.coef, "intercept": self.intercept}
        elif self.method in ABILITY_METHODS:
            assert self.ability is not None
            arrays |= {f"ability_{name}": value for name, value in self.ability.items()}
        else:
            rows = self.train_rows
            arrays |= {
                "rows_data": rows.data,
                "rows_indices": rows.indices,
                "rows_indptr": rows.indptr,
                "rows_shape": np.array(rows.shape),
                "train_scores": self.train_scores,
            }
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:  # an open file keeps numpy from appending ".npz"
            np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, path: Path) -> LearnedQuality:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except FileNotFoundError:
            raise EstimatorFileError(f"{path}: no such estimator file") from None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise EstimatorFileError(f"{path}: not an estimator file ({exc})") from exc
        if str(arrays.get("format", "")) != FORMAT:
            raise EstimatorFileError(f"{path}: not a {FORMAT} file (made by `router fit`?)")
        try:
            method = str(arrays["method"])
            if method not in METHODS:
                raise EstimatorFileError(f"{path}: unknown method '{method}'")
            fitted = cls(
                method=method,
                models=tuple(str(m) for m in arrays["models"]),
                vocabulary=tuple(str(t) for t in arrays["vocabulary"]),
                idf=arrays["idf"],
                cost_per_token=arrays["cost_per_token"],
                cost_fixed=arrays["cost_fixed"],
                names=json.loads(str(arrays["names"])),
                meta=json.loads(str(arrays["meta"])),
            )
            if method == "logreg":
                fitted.coef, fitted.intercept = arrays["coef"], arrays["intercept"]
            elif method in ABILITY_METHODS:
                fitted.ability = {
                    name.removeprefix("ability_"): value
                    for name, value in arrays.items()
                    if name.startswith("ability_")
                }
                fitted.ability_model  # noqa: B018 — checks the arrays agree, now
            else:
                import scipy.sparse as sp

                fitted.train_rows = sp.csr_matrix(
                    (arrays["rows_data"], arrays["rows_indices"], arrays["rows_indptr"]),
                    shape=tuple(arrays["rows_shape"]),
                )
                fitted.train_scores = arrays["train_scores"]
        except KeyError as exc:
            raise EstimatorFileError(f"{path}: the file lacks '{exc.args[0]}'") from None
        except ValueError as exc:
            raise EstimatorFileError(f"{path}: inconsistent estimator ({exc})") from None
        return fitted


def fit(
    outcomes: Outcomes,
    method: Method = "ability",
    names: Mapping[str, str] | None = None,
    sources: Sequence[str] = (),
) -> LearnedQuality:
    if method not in METHODS:
        raise RouterError(f"unknown method '{method}': choose {' or '.join(METHODS)}")
    if len(outcomes) < 2:
        raise RouterError("fitting needs at least two prompts")
    vectorizer: Any = None
    features: Any = None
    vocabulary: tuple[str, ...] = ()
    idf = np.zeros(0)
    if method not in ABILITY_METHODS:  # the ability methods embed the prompt instead
        vectorizer = _vectorizer()
        try:
            features = vectorizer.fit_transform(outcomes.prompts)
        except ValueError:  # every word is in fewer than two prompts
            vectorizer = _vectorizer()
            vectorizer.min_df = 1
            features = vectorizer.fit_transform(outcomes.prompts)
        vocabulary = tuple(str(t) for t in vectorizer.get_feature_names_out())
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
    per_token, fixed = _cost_model(outcomes.prompts, outcomes.costs)
    known = {**CATALOG_NAMES, **(names or {})}
    fitted = LearnedQuality(
        method=method,
        models=outcomes.models,
        vocabulary=vocabulary,
        idf=idf,
        cost_per_token=per_token,
        cost_fixed=fixed,
        names={m: known[m] for m in outcomes.models if m in known},
        meta={
            "prompts": len(outcomes),
            "tasks": sorted(set(outcomes.tasks)),
            "task_best": outcomes.best_model_per_task(),
            "sources": list(sources),
            "fitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        _vectorizer=vectorizer,
    )
    if method == "logreg":
        fitted.coef, fitted.intercept = _logistic_fit(features, outcomes.scores)
    elif method in ABILITY_METHODS:
        fitted.ability = fit_arrays(
            outcomes.prompts, outcomes.tasks, outcomes.scores, task_only=method == "task"
        )
    else:
        fitted.train_rows = features.tocsr()
        fitted.train_scores = outcomes.scores.copy()
    return fitted


class LearnedQualityEstimator:
    """The router's view of a fitted estimator: catalog models the outcome data covers get a
    learned probability; with the ability methods, a catalog model without outcome data gets
    one from its benchmark scores (`ColdStart`); every other model falls back to the
    catalog-based estimate. Each estimate's basis says which of the three it is."""

    def __init__(
        self, learned: LearnedQuality, fallback: QualityEstimator, label: str = "learned"
    ) -> None:
        self.learned = learned
        self.fallback = fallback
        self.label = label
        self._columns: tuple[int, dict[str, int]] = (-1, {})
        self._cold: tuple[int, ColdStart | None] = (-1, None)
        # Per catalog version (the two newest: a new one is prepared on the refresh thread
        # while requests still read the last), each model's cold-start ability per outcome
        # task (None where no score speaks for it): they depend on the catalog alone.
        self._abilities: dict[int, dict[str, tuple[float | None, ...]]] = {}
        # One prediction per prompt, shared by every model the decision asks about.
        self._predict = lru_cache(maxsize=256)(self._predict_one)

    def _predict_one(self, prompt: str) -> tuple[tuple[float, ...], tuple[float, ...], Matrix]:
        """Each covered model's probability, each task's probability, and the prompt's
        shared deviation per task (the last two only for the ability methods)."""
        if self.learned.method not in ABILITY_METHODS:
            return tuple(float(p) for p in self.learned.predict([prompt])[0]), (), np.zeros(0)
        model = self.learned.ability_model
        logits, tasks = model.logits([prompt])
        probabilities = np.einsum("nt,ntm->nm", tasks, 1.0 / (1.0 + np.exp(-logits)))[0]
        return (
            tuple(float(p) for p in probabilities),
            tuple(float(t) for t in tasks[0]),
            model.deviation(logits)[0],
        )

    def prepare(self, snapshot: CatalogSnapshot) -> None:
        """A new snapshot's per-version work before the router reads it (see
        CatalogQualityEstimator.prepare): the fallback's ability fit, the outcome columns and
        the cold start."""
        prepare = getattr(self.fallback, "prepare", None)
        if callable(prepare):
            prepare(snapshot)
        cold = self.cold_start(snapshot)
        if cold is not None and cold.lines:
            for model in snapshot.models.values():
                if model.deployments:  # only routable models are ever estimated
                    self._cold_abilities(snapshot, model, cold)

    def warm(self) -> None:
        """What the first request would otherwise load: the ability methods' prompt
        embedder (a few hundred milliseconds on the first `auto` request after start-up)."""
        if self.learned.method in ABILITY_METHODS:
            warm_embedder()

    def columns(self, snapshot: CatalogSnapshot) -> dict[str, int]:
        """Catalog hf_id → outcome column, resolved once per catalog version."""
        version, found = self._columns
        if version != snapshot.version:
            found = {}
            for column, name in enumerate(self.learned.models):
                model = snapshot.find(self.learned.names.get(name, name)) or snapshot.find(name)
                if model is not None:
                    found.setdefault(model.hf_id, column)
            self._columns = (snapshot.version, found)
        return found

    def cold_start(self, snapshot: CatalogSnapshot) -> ColdStart | None:
        """The score → ability map, fitted once per catalog version on the covered models
        the catalog has benchmark scores for."""
        version, found = self._cold
        if version == snapshot.version:
            return found
        found = None
        if self.learned.method in ABILITY_METHODS:
            model = self.learned.ability_model
            pairs: dict[str, list[tuple[float, float]]] = {task: [] for task in model.tasks}
            for hf_id, column in self.columns(snapshot).items():
                scores = self._benchmark_scores(snapshot, snapshot.models[hf_id])
                for k, task in enumerate(model.tasks):
                    score = benchmark_score(scores, task)
                    if score is not None:
                        pairs[task].append((score, float(model.rates[k, column])))
            found = ColdStart.fit(pairs)
        self._cold = (snapshot.version, found)
        return found

    def _cold_abilities(
        self, snapshot: CatalogSnapshot, model: ModelView, cold: ColdStart
    ) -> tuple[float | None, ...]:
        """The model's ability per outcome task from its benchmark scores, once per catalog
        version: worked out per request, it cost a decision over the catalog ~4 ms (the
        ability model's predictions for every model)."""
        found = self._abilities.get(snapshot.version)
        if found is None:
            found = self._abilities.setdefault(snapshot.version, {})
            for older in sorted(self._abilities)[:-2]:
                self._abilities.pop(older, None)
        abilities = found.get(model.hf_id)
        if abilities is None:
            scores = self._benchmark_scores(snapshot, model)
            names = self.learned.ability_model.tasks
            abilities = tuple(cold.ability(name, benchmark_score(scores, name)) for name in names)
            found[model.hf_id] = abilities
        return abilities

    def _benchmark_scores(
        self, snapshot: CatalogSnapshot, model: ModelView
    ) -> tuple[tuple[str, float], ...]:
        """The model's published scores (or its nearest scored ancestor's), plus, where the
        fallback is the catalog's ability model, its predictions for the outcome tasks'
        benchmarks the model was not published on: the ability model is the cold start."""
        scores = _scores(snapshot, model)
        fitted = getattr(self.fallback, "ability", None)
        ability = fitted(snapshot) if callable(fitted) else None
        if ability is None:
            return scores
        have = {name for name, _ in scores}
        extra = []
        for name in COLD_START_BENCHMARKS:
            if name not in have:
                predicted = ability.predicted(model, name)
                if predicted is not None:
                    extra.append((name, predicted))
        return (*scores, *extra)

    def estimate(
        self, prompt: str, task: str, model: ModelView, snapshot: CatalogSnapshot
    ) -> Estimate:
        column = self.columns(snapshot).get(model.hf_id)
        if column is None:
            return self._cold_estimate(prompt, task, model, snapshot)
        probability = self._predict(prompt)[0][column]
        return Estimate(
            round(probability, 4),
            f"{self.learned.method} on {self.learned.meta.get('prompts', '?')} prompts "
            f"as '{self.learned.models[column]}'",
            self.label,
        )

    def _cold_estimate(
        self, prompt: str, task: str, model: ModelView, snapshot: CatalogSnapshot
    ) -> Estimate:
        cold = self.cold_start(snapshot)
        if cold is None or not cold.lines:
            return self.fallback.estimate(prompt, task, model, snapshot)
        abilities = self._cold_abilities(snapshot, model, cold)
        _, tasks, deviation = self._predict(prompt)
        total = weight = 0.0
        for k, ability in enumerate(abilities):
            if ability is not None:
                total += tasks[k] / (1.0 + math.exp(-(ability + float(deviation[k]))))
                weight += tasks[k]
        if weight < 0.5:  # no score speaks for the tasks this prompt most likely is
            return self.fallback.estimate(prompt, task, model, snapshot)
        return Estimate(
            round(total / weight, 4),
            f"cold start: benchmark scores → ability (map fitted on {cold.fitted_on} "
            "models with outcome data)",
            self.label,
        )


def _scores(snapshot: CatalogSnapshot, model: ModelView) -> tuple[tuple[str, float], ...]:
    """The model's benchmark scores, or its nearest scored ancestor's."""
    for member in snapshot.lineage(model):
        if member.scores:
            return tuple(member.scores)
    return ()


def completion_cost_per_token(fixed: float) -> float:
    """The fixed answer cost spread over the decision's default answer length, so the
    decision's `prompt x input + completion x output` reproduces the cost model."""
    return fixed / DEFAULT_COMPLETION_TOKENS
