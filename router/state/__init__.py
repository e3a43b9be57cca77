"""What the router counts and remembers between requests: rate limits and budgets per key
and team, deployment health and cool-downs, and the opt-in response cache. Each has an
in-process backend (the default) and a Redis one that replicas share.

May import: router.core (and `catalog`, `adapters`)."""

from router.state.health import Health, InProcessHealth, SharedHealth
from router.state.limits import InProcessLimits, KeyLimits, Limits, RedisLimits
from router.state.response_cache import InProcessCache, RedisCache, ResponseCache, cache_key

__all__ = [
    "Health",
    "InProcessCache",
    "InProcessHealth",
    "InProcessLimits",
    "KeyLimits",
    "Limits",
    "RedisCache",
    "RedisLimits",
    "ResponseCache",
    "SharedHealth",
    "cache_key",
]
