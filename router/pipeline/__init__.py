"""One routed request end to end: the gateway (controls → admission → decision → execution
with fallback before the first byte → ledger, limits, health), the renderers that turn a
routed stream into an API's events, privacy applied on the chat path, OpenTelemetry spans
and Prometheus metrics; learning on the request path (learning.py: the key's scope's
estimates, exploration within its budget, outcomes queued for the batch writer). Every API
surface goes through the one gateway.

May import: router.routing, router.accounts, router.state, router.quality, router.privacy
and router.core (and `catalog`, `adapters`)."""

from router.pipeline.cascade import Cascade
from router.pipeline.execution import (
    AdapterPool,
    Attempt,
    DeploymentPool,
    ExecutionFailed,
    Executor,
    Via,
)
from router.pipeline.gateway import Gateway
from router.pipeline.learning import ExplorationSettings, TrafficLearning
from router.pipeline.metrics import RouterMetrics
from router.pipeline.routed import Routed
from router.pipeline.telemetry import Telemetry

__all__ = [
    "AdapterPool",
    "Attempt",
    "Cascade",
    "DeploymentPool",
    "ExecutionFailed",
    "Executor",
    "ExplorationSettings",
    "Gateway",
    "Routed",
    "RouterMetrics",
    "Telemetry",
    "TrafficLearning",
    "Via",
]
