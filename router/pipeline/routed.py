"""The parts of a routed request the gateway passes around: route controls read from
`X-Route-*` headers, the request shapes the decision takes (chat, or another API's body that
makes its own input), the admission a request was let in with, and the headers its answer
carries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from pydantic import ValidationError

from adapters.schemas import CAPABILITIES as CAPABILITY_ORDER
from adapters.schemas import NEED_PARAM
from router.core.errors import RouteError
from router.core.requests import ChatCompletionIn, RouteControls
from router.pipeline.execution import Attempt
from router.routing.decision import Candidate, Decision, RouteRequest
from router.routing.default_need import need_headers
from router.routing.exploration import exploration_headers

HEADER_FIELDS = {
    "x-route-min-quality": "min_quality",
    "x-route-quality-as": "quality_as",
    "x-route-privacy": "privacy",
    "x-route-max-cost-usd": "max_cost_usd",
    "x-route-strategy": "strategy",
    "x-route-quality-value-usd": "quality_value_usd",
    "x-route-cache-ttl-seconds": "cache_ttl_seconds",
    "x-route-models": "models",
    "x-route-exclude": "exclude",
    "x-route-use": "use",
}


def controls_from_headers(headers: Mapping[str, str]) -> RouteControls:
    values: dict[str, Any] = {}
    for header, name in HEADER_FIELDS.items():
        raw = headers.get(header)
        if raw is None:
            continue
        if name in ("models", "exclude"):
            values[name] = [part.strip() for part in raw.split(",") if part.strip()]
        elif name == "use":
            try:
                values[name] = json.loads(raw)
            except ValueError as exc:
                raise RouteError(f"{header} must be a JSON object", param=header) from exc
        else:
            values[name] = raw
    try:
        return RouteControls.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        header = next((h for h, n in HEADER_FIELDS.items() if where.startswith(n)), where)
        raise RouteError(f"{header}: {first['msg']}", param=header) from exc


def model_of(body: Body) -> str:
    return body.model if isinstance(body, ChatCompletionIn) else body.requested_model


def capability_param(decision: Decision, body: ChatCompletionIn | None) -> str | None:
    """The request field no candidate could honour, when capabilities excluded them all."""
    if body is None or not any(e.reason == "capability" for e in decision.excluded):
        return None
    needs = body.needs()
    return next((NEED_PARAM[n] for n in CAPABILITY_ORDER if n in needs), None)


def actual_cost(candidate: Candidate, usage: Mapping[str, Any] | None) -> Decimal:
    if not usage:
        return Decimal(str(candidate.cost_usd))
    d = candidate.deployment
    cost = int(usage.get("prompt_tokens") or 0) * (d.input_cost_per_token or 0.0) + int(
        usage.get("completion_tokens") or 0
    ) * (d.output_cost_per_token or 0.0)
    return Decimal(str(round(cost, 12)))


class RoutedBody(Protocol):
    """A request of another API (embeddings) that makes its own input to the decision; the
    admission, settlement and ledger below are the same for it as for chat."""

    @property
    def route(self) -> RouteControls | None: ...

    @property
    def requested_model(self) -> str:
        """The model the request named (policies' allowlists and denylists apply to it)."""
        ...

    def route_request(self, controls: RouteControls, budget_usd: float | None) -> RouteRequest: ...


Body = ChatCompletionIn | RoutedBody


@dataclass
class Admission:
    """A request let through: its decision, the tokens charged to its rate limit, the budget
    it reserved, and the rate-limit headers for its answer."""

    decision: Decision
    tokens: int
    reserved: float
    headers: dict[str, str]
    # What the key's exploration budget holds for an explored answer (its estimated cost),
    # settled at the answer's ledger cost (router/pipeline/learning.py).
    explored: float = 0.0


@dataclass
class Routed:
    decision: Decision
    candidate: Candidate
    attempts: list[Attempt]

    def headers(self, cost: Decimal) -> dict[str, str]:
        c = self.candidate
        return {
            "x-modelyard-route-id": self.decision.route_id,
            "x-modelyard-model": c.model.hf_id,
            "x-modelyard-deployment": c.deployment.name,
            "x-modelyard-cost-usd": f"{cost:.10f}".rstrip("0").rstrip(".") or "0",
            "x-modelyard-quality": f"{c.quality:.3f}",
            "x-modelyard-license": f"{c.license_verdict.value}; {', '.join(c.licenses)}",
            "x-modelyard-attempts": str(len(self.attempts)),
            **(self.decision.privacy.headers() if self.decision.privacy else {}),
            **need_headers(self.decision, c),
            **exploration_headers(self.decision),
        }
