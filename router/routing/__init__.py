"""The decision: which deployments may serve a request and in what order. Pure and in memory
over the catalog snapshot's deployment table: licence, privacy, context window, capability,
provider keys, health, quality need and price, each exclusion with its reason. Around it:
measured speed per deployment, load spreading among near-equal candidates, the default
need of `model: "auto"`, and exploration (trying an uncertain candidate so feedback can teach
the router, exploration.py).

May import: router.core, router.quality and router.privacy (and `catalog`, `adapters`)."""

from router.routing.decision import (
    EMBEDDINGS,
    Candidate,
    Decision,
    Excluded,
    RouteRequest,
    decide,
    next_route_id,
)
from router.routing.default_need import DEFAULT_AUTO_NEED, DefaultNeed, need_headers
from router.routing.provider_keys import provider_status, uncredentialed
from router.routing.speed import SharedSpeeds, SpeedBook
from router.routing.spread import Spreader

__all__ = [
    "DEFAULT_AUTO_NEED",
    "EMBEDDINGS",
    "Candidate",
    "Decision",
    "DefaultNeed",
    "Excluded",
    "RouteRequest",
    "SharedSpeeds",
    "SpeedBook",
    "Spreader",
    "decide",
    "need_headers",
    "next_route_id",
    "provider_status",
    "uncredentialed",
]
