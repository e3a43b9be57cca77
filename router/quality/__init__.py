"""Quality estimation: the probability that a model answers a prompt well, with the basis the
dry run shows. The catalog estimator maps published benchmark scores to a task's need; the
learned estimators (`ability`, `task`, `logreg`, `knn`) are fitted on outcome files (which
model answered which prompt well, at what cost); the bundled estimator is `ability` fitted on
the outcome data shipped in data/routing/. Online learning from the callers' feedback on live
traffic: outcomes kept off the request path (traffic.py, orm.py, repository.py) and a Beta
posterior per scope, model, task and template over the prior (feedback.py).

May import: router.core (and `catalog`, `adapters`)."""

from router.quality.bundled import bundled_files, fingerprint, load_or_fit
from router.quality.estimators import (
    CatalogQualityEstimator,
    Estimate,
    QualityEstimator,
    classify,
    embedding_quality,
)
from router.quality.feedback import LEARNED_METRIC, Learning, ScopedLearning
from router.quality.learned import (
    METHODS,
    EstimatorFileError,
    LearnedQuality,
    LearnedQualityEstimator,
    Method,
    completion_cost_per_token,
    fit,
)
from router.quality.outcomes import Outcomes, load_outcomes
from router.quality.repository import exploration_spend
from router.quality.traffic import OutcomeEntry, OutcomeRecorder

__all__ = [
    "LEARNED_METRIC",
    "METHODS",
    "CatalogQualityEstimator",
    "Estimate",
    "EstimatorFileError",
    "LearnedQuality",
    "LearnedQualityEstimator",
    "Learning",
    "Method",
    "OutcomeEntry",
    "OutcomeRecorder",
    "Outcomes",
    "QualityEstimator",
    "ScopedLearning",
    "bundled_files",
    "classify",
    "completion_cost_per_token",
    "embedding_quality",
    "exploration_spend",
    "fingerprint",
    "fit",
    "load_or_fit",
    "load_outcomes",
]
