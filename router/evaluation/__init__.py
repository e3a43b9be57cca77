"""How much accuracy a quality estimator buys for how much money: outcome data replayed
through the real decision (replay.py), and the `modelyard router …` commands that fit
estimators and run that replay (quality_cli.py).

May import: router.routing, router.quality and router.core (and `catalog`, `adapters`)."""

from router.evaluation.replay import cross_validate, evaluate

__all__ = ["cross_validate", "evaluate"]
