"""Quality estimation: the probability that a model answers a prompt well, with the basis the
dry run shows. The catalog estimator maps published benchmark scores to a task's need; the
learned estimators (`ability`, `task`, `logreg`, `knn`) are fitted on outcome files (which
model answered which prompt well, at what cost); the bundled estimator is `ability` fitted on
the outcome data shipped in data/routing/.

May import: router.core (and `catalog`, `adapters`)."""

from router.quality.bundled import bundled_files, fingerprint, load_or_fit
from router.quality.estimators import (
    CatalogQualityEstimator,
    Estimate,
    QualityEstimator,
    classify,
    embedding_quality,
)
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

__all__ = [
    "METHODS",
    "CatalogQualityEstimator",
    "Estimate",
    "EstimatorFileError",
    "LearnedQuality",
    "LearnedQualityEstimator",
    "Method",
    "Outcomes",
    "QualityEstimator",
    "bundled_files",
    "classify",
    "completion_cost_per_token",
    "embedding_quality",
    "fingerprint",
    "fit",
    "load_or_fit",
    "load_outcomes",
]
