"""Prometheus metrics of the router, served at /metrics: requests, latency, tokens and cost by
model and deployment, fallbacks, cool-downs, budget and rate-limit refusals, cache hits, and
how often shared state found Redis away. Labels never carry prompts or keys.

Each Gateway has its own registry, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# The gateway's own time per request is a fraction of a millisecond when all is well.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class _Live(Collector):
    """Values read when Prometheus scrapes: deployments cooling down, Redis away counts."""

    def __init__(
        self, cooling: Callable[[], int], unavailable: Callable[[], dict[str, int]]
    ) -> None:
        self.cooling = cooling
        self.unavailable = unavailable

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "modelyard_deployments_cooling", "Deployments cooling down now", value=self.cooling()
        )
        away = GaugeMetricFamily(
            "modelyard_redis_unavailable_events",
            "Times shared state found Redis away since start",
            labels=["part"],
        )
        for part, count in self.unavailable().items():
            away.add_metric([part], count)
        yield away


@dataclass(frozen=True)
class _Answered:
    """One model and deployment's series, looked up once: `labels()` checks and converts its
    arguments under a lock on every call, five times per answer."""

    requests: Counter
    latency: Histogram
    input_tokens: Counter
    output_tokens: Counter
    cost: Counter


class RouterMetrics:
    def __init__(self) -> None:
        self._answered: dict[tuple[str, str, str], _Answered] = {}
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "modelyard_requests",
            "Routed requests by outcome (ok, partial, failed, cached)",
            ["model", "deployment", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "modelyard_request_seconds",
            "Time to a complete answer (or the stream's end)",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "modelyard_tokens",
            "Tokens by direction",
            ["model", "deployment", "direction"],
            registry=r,
        )
        self.cost = Counter(
            "modelyard_cost_usd", "Spend in USD", ["model", "deployment"], registry=r
        )
        self.fallbacks = Counter(
            "modelyard_fallbacks",
            "Failed attempts that fell back to the next candidate",
            ["deployment", "code"],
            registry=r,
        )
        self.cooldowns = Counter(
            "modelyard_cooldowns", "Deployments put to cool down", ["deployment"], registry=r
        )
        self.refusals = Counter(
            "modelyard_refusals",
            "Requests refused before any model: rate_limit, budget, no_candidate, policy",
            ["reason"],
            registry=r,
        )
        self.policy_refusals = Counter(
            "modelyard_policy_refusals",
            "Requests that tried to widen a key's or team's limit, by field and policy level",
            ["field", "level"],
            registry=r,
        )
        self.cache = Counter("modelyard_cache", "Response cache lookups", ["result"], registry=r)
        self.overhead = Histogram(
            "modelyard_overhead_seconds",
            "The gateway's own time per model API request: to the answer's headers (a stream's "
            "first chunk), less the time spent waiting on upstreams (x-modelyard-overhead-ms)",
            ["path"],
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )

    def watch(self, cooling: Callable[[], int], unavailable: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_Live(cooling, unavailable))

    def answered(
        self,
        model: str,
        deployment: str,
        status: str,
        seconds: float,
        input_tokens: int,
        output_tokens: int,
        cost: Decimal,
    ) -> None:
        found = self._answered.get((model, deployment, status))
        if found is None:
            found = self._answered[(model, deployment, status)] = _Answered(
                self.requests.labels(model, deployment, status),
                self.latency.labels(model),
                self.tokens.labels(model, deployment, "input"),
                self.tokens.labels(model, deployment, "output"),
                self.cost.labels(model, deployment),
            )
        found.requests.inc()
        found.latency.observe(seconds)
        if input_tokens:
            found.input_tokens.inc(input_tokens)
        if output_tokens:
            found.output_tokens.inc(output_tokens)
        if cost:
            found.cost.inc(float(cost))
