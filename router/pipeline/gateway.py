"""One routed request, end to end: controls → decision → execution with fallback → ledger.
The HTTP layer (endpoints.py) only parses and renders."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from pydantic import ValidationError

from adapters.base import Adapter, RelayingAdapter
from adapters.chat_events import EventBlock
from adapters.errors import AdapterError
from adapters.openai_responses import chat_usage
from adapters.schemas import CAPABILITIES as CAPABILITY_ORDER
from adapters.schemas import NEED_PARAM, ChatRequest
from catalog.snapshot import CatalogSnapshot, SnapshotCache
from router.accounts.keys import KeyView
from router.accounts.ledger import Ledger, UsageEntry
from router.accounts.policy import TeamBudget
from router.core.errors import Forbidden, RouteError
from router.core.requests import ChatCompletionIn, RouteControls
from router.pipeline import chat_privacy as private_chat
from router.pipeline.execution import Attempt, ExecutionFailed, Executor, Via, keep_request
from router.pipeline.stream_render import ChatEvents, StreamRenderer, rendered
from router.pipeline.telemetry import Telemetry
from router.privacy.check import SCANNING_RULES
from router.privacy.check import check as privacy_check
from router.quality.estimators import QualityEstimator
from router.routing.decision import Candidate, Decision, RouteRequest, decide, next_route_id
from router.routing.default_need import DefaultNeed, need_headers
from router.routing.spread import Spreader
from router.state.limits import InProcessLimits, KeyLimits, Limits
from router.state.response_cache import InProcessCache, ResponseCache, cache_key

Blocks = AsyncIterator[EventBlock]

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
        }


class Gateway:
    need: DefaultNeed | None = None  # set by the app from MODELYARD_AUTO_NEED

    def __init__(
        self,
        snapshots: SnapshotCache,
        estimator: QualityEstimator,
        executor: Executor,
        ledger: Ledger,
        limits: Limits | None = None,
        team_budgets: Mapping[str, TeamBudget] | None = None,
        cache: ResponseCache | None = None,
        providers: frozenset[str] | None = None,
    ) -> None:
        self.snapshots = snapshots
        self.estimator = estimator
        self.executor = executor
        self.ledger = ledger
        self.limits: Limits = limits or InProcessLimits()
        self.team_budgets = dict(team_budgets or {})
        self.cache: ResponseCache = cache or InProcessCache()
        self.metrics = executor.metrics
        # Hosted providers with a key configured; None: every provider is assumed callable.
        self.providers = providers
        self.telemetry: Telemetry | None = None  # set when traces are exported
        # Measured speeds and the spreading of near-equal deployments (router/routing/spread.py).
        self.spreader: Spreader | None = None

    def limits_for(self, key: KeyView) -> KeyLimits:
        """The key's own limits, with its team's budgets when its policy names a team."""
        team = None
        if key.policy.team:
            # The team's row in the database (read with the key) over the settings' seed.
            team = key.team_budget or self.team_budgets.get(key.policy.team)
        if team is None:
            return key.limits
        return dataclasses.replace(
            key.limits,
            team=key.policy.team,
            team_usd_per_day=team.budget_usd_per_day,
            team_usd_per_month=team.budget_usd_per_month,
        )

    def snapshot(self) -> CatalogSnapshot:
        current = self.snapshots.current
        if current is None:
            raise RouteError("the catalog is not loaded yet", "service_unavailable", 503)
        return current

    async def plan(self, body: Body, controls: RouteControls, key: KeyView) -> Decision:
        """The decision, with deployments the key's budget cannot pay for excluded."""
        limits = self.limits_for(key)
        budget = await self.limits.budget_left(key.id, limits) if limits.budgeted else None
        return self.decide(body, controls, None if budget is None else float(budget))

    async def admit(self, body: Body, controls: RouteControls, key: KeyView) -> Admission:
        """Plan, then pass the key's rate limits and reserve its budget, or refuse."""
        if self.telemetry is not None and isinstance(body, ChatCompletionIn):
            max_tokens = body.max_completion_tokens or body.max_tokens
            self.telemetry.requested(body.model, max_tokens, body.stream)
        decision = await self.plan(body, controls, key)
        if not decision.candidates:
            raise self.no_candidate(decision, body)
        limits = self.limits_for(key)
        tokens = decision.prompt_tokens + decision.completion_tokens
        rate = await self.limits.admit(key.id, limits, tokens) if limits.rated else None
        if rate is not None and not rate.allowed:
            self.metrics.refusals.labels("rate_limit").inc()
            wait = max(1, math.ceil(rate.retry_after))
            raise RouteError(
                f"rate limit reached for this key; retry in {wait} s",
                "rate_limit_exceeded",
                429,
                headers={**rate.headers, "Retry-After": str(wait)},
            )
        reserved = 0.0
        if limits.budgeted:
            reserved = decision.candidates[0].cost_usd
            if not await self.limits.reserve(key.id, limits, reserved):
                # Concurrent requests spent the budget since the plan: only what is free now.
                decision = self.decide(body, controls, 0.0)
                if not decision.candidates:
                    raise self.no_candidate(decision, body)
                reserved = 0.0
        return Admission(decision, tokens, reserved, rate.headers if rate else {})

    async def settle(
        self, key: KeyView, admission: Admission, cost: Decimal, usage: Mapping[str, Any] | None
    ) -> None:
        """The real cost against the reservation, the real tokens against the estimate."""
        limits = self.limits_for(key)
        if limits.budgeted:
            await self.limits.settle(key.id, limits, admission.reserved, cost)
        if limits.tokens_per_minute is not None and usage:
            used = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
            await self.limits.add_tokens(key.id, used - admission.tokens)

    async def failed(
        self,
        key: KeyView,
        admission: Admission,
        exc: ExecutionFailed,
        started: float,
        *,
        stream: bool,
    ) -> None:
        """A request no candidate answered: recorded with every attempt, and its reservation
        released (nothing was spent)."""
        decision = admission.decision
        await self._record(
            key,
            decision,
            None,
            exc.attempts,
            None,
            started,
            stream=stream,
            status="failed",
            error=str(exc),
        )
        await self.settle(key, admission, Decimal(0), None)

    @staticmethod
    def controls(body: Body, headers: Mapping[str, str], key: KeyView) -> RouteControls:
        """The request's routing controls: its `route` object over X-Route-* headers over the
        key's policy."""
        # Parsing headers costs a pydantic validation; most requests carry none.
        controls: RouteControls = key.policy
        if any(h.startswith("x-route-") for h in headers):
            controls = controls_from_headers(headers).over(controls)
        if body.route is not None:
            controls = body.route.over(controls)
        if controls.privacy == "redact" and not (
            key.policy.allow_redact or key.policy.privacy == "redact"
        ):
            raise Forbidden(
                f"key '{key.name}' may not ask for privacy 'redact': its policy needs "
                "allow_redact: true (or privacy: redact)"
            )
        return controls

    def decide(
        self, body: Body, controls: RouteControls, budget_usd: float | None = None
    ) -> Decision:
        if not isinstance(body, ChatCompletionIn):
            request = body.route_request(controls, budget_usd)
            cooling = self.executor.health.cooling()
            return decide(request, self.snapshot(), self.estimator, cooling, self.providers)
        request = RouteRequest(
            model=body.model,
            prompt=body.prompt_text(),
            messages=len(body.messages),
            max_tokens=body.max_completion_tokens or body.max_tokens,
            needs=frozenset(body.needs()),
            extra_tokens=body.extra_prompt_tokens(),
            reasoning_effort=body.reasoning_effort,
            controls=controls,
            budget_usd=budget_usd,
            privacy=(
                privacy_check(controls.privacy, private_chat.chat_texts(body))
                if controls.privacy in SCANNING_RULES
                else None
            ),
        )
        spreader = self.spreader
        speeds = spreader.speeds if spreader is not None else None
        cooling = self.executor.health.cooling()
        if self.need is not None:  # the server's default need for auto (routing/default_need.py)
            decision = self.need.decide(
                request, self.snapshot(), self.estimator, cooling, self.providers, speeds
            )
        else:
            decision = decide(
                request, self.snapshot(), self.estimator, cooling, self.providers, speeds
            )
        return spreader.order(decision) if spreader is not None else decision

    def no_candidate(self, decision: Decision, body: Body | None = None) -> RouteError:
        reasons = sorted({e.reason for e in decision.excluded})
        if decision.privacy is not None and decision.privacy.keeps_local:
            # Never a silent hosted call: say what kept it local, never the text itself.
            self.metrics.refusals.labels("privacy").inc()
            return RouteError(
                f"the request carries personal data or secrets ({decision.privacy.summary()}) "
                "and no local or embedded deployment can serve it; nothing was sent to a hosted "
                "provider (privacy: auto)"
                + (f" (excluded for: {', '.join(reasons)})" if reasons else ""),
                "privacy",
                400,
                {
                    "route_id": decision.route_id,
                    "privacy": decision.privacy.as_dict(),
                    "excluded": [e.as_dict() for e in decision.excluded],
                },
            )
        self.metrics.refusals.labels("budget" if "budget" in reasons else "no_candidate").inc()
        return RouteError(
            "no deployment meets this request's constraints"
            + (f" (excluded for: {', '.join(reasons)})" if reasons else ""),
            "no_candidate",
            400,
            {"route_id": decision.route_id, "excluded": [e.as_dict() for e in decision.excluded]},
            param=capability_param(decision, body if isinstance(body, ChatCompletionIn) else None),
        )

    async def _record(
        self,
        key: KeyView,
        decision: Decision,
        candidate: Candidate | None,
        attempts: list[Attempt],
        usage: Mapping[str, Any] | None,
        started: float,
        *,
        stream: bool,
        status: str,
        error: str | None = None,
    ) -> Decimal:
        cost = actual_cost(candidate, usage) if candidate else Decimal(0)
        if self.telemetry is not None:
            self.telemetry.answered(decision, candidate, attempts, usage, cost, status)
        await self._add(
            UsageEntry(
                route_id=decision.route_id,
                api_key_id=key.id,
                model_id=candidate.model.id if candidate else None,
                model_name=candidate.model.hf_id if candidate else None,
                deployment_id=candidate.deployment.id if candidate else None,
                deployment_name=candidate.deployment.name if candidate else None,
                input_tokens=int((usage or {}).get("prompt_tokens") or 0),
                output_tokens=int((usage or {}).get("completion_tokens") or 0),
                cost_usd=cost,
                quality=candidate.quality if candidate else None,
                license_basis=(
                    f"{candidate.license_verdict.value}: {', '.join(candidate.licenses)}"
                    if candidate
                    else None
                ),
                attempts=len(attempts),
                stream=stream,
                latency_ms=int((time.perf_counter() - started) * 1000),
                status=status,
                error=error,
                privacy_findings=decision.privacy.summary() if decision.privacy else None,
            )
        )
        return cost

    async def complete(
        self,
        body: ChatCompletionIn,
        headers: Mapping[str, str],
        key: KeyView,
        via: Via | None = None,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The answer (a chat completion, or what `via` made of a candidate) and its headers."""
        started = time.perf_counter()
        controls = self.controls(body, headers, key)
        cached_as = None
        if controls.cache_ttl_seconds:
            cached_as = cache_key(key.id, body, controls, self.snapshot())
            hit = await self.cache.get(cached_as)
            if hit is not None:
                return await self._from_cache(key, hit, started)
        admission = await self.admit(body, controls, key)
        decision = admission.decision
        prepare = self._redacting(decision)
        try:
            candidate, answer, attempts = await self.executor.complete(
                decision, body, prepare or keep_request, via
            )
        except ExecutionFailed as exc:
            await self.failed(key, admission, exc, started, stream=False)
            raise
        answer["model"] = candidate.model.hf_id
        redacted = prepare is not None and private_chat.leaves_our_machines(candidate)
        if redacted and prepare is not None:
            private_chat.restore_answer(answer, prepare.redaction)
        usage = chat_usage(answer.get("usage"))  # a forwarded Responses answer names it its way
        cost = await self._record(
            key, decision, candidate, attempts, usage, started, stream=False, status="ok"
        )
        await self.settle(key, admission, cost, usage)
        routed = Routed(decision, candidate, attempts).headers(cost)
        if redacted and prepare is not None:
            routed["x-modelyard-redacted"] = str(prepare.redaction.count)
        if cached_as is not None and controls.cache_ttl_seconds:
            entry = {"answer": answer, "headers": routed}
            await self.cache.put(cached_as, entry, controls.cache_ttl_seconds)
            routed["x-modelyard-cache"] = "miss"
            self.metrics.cache.labels("miss").inc()
        return answer, {**routed, **admission.headers}

    @staticmethod
    def _redacting(decision: Decision) -> private_chat.RedactingPrepare | None:
        """Under privacy redact with findings: what hosted deployments are sent instead."""
        if decision.privacy is None or not decision.privacy.redacts:
            return None
        return private_chat.RedactingPrepare(decision.privacy.redaction())

    async def _add(self, entry: UsageEntry) -> None:
        """To the ledger, and to the metrics."""
        self.metrics.answered(
            entry.model_name or "(none)",
            entry.deployment_name or "(none)",
            entry.status,
            entry.latency_ms / 1000,
            entry.input_tokens,
            entry.output_tokens,
            entry.cost_usd,
        )
        await self.ledger.add(entry)

    async def _from_cache(
        self, key: KeyView, hit: dict[str, Any], started: float
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A cached answer: free, recorded in the ledger as such, under a route id of its own."""
        headers = dict(hit["headers"])
        route_id = next_route_id()
        self.metrics.cache.labels("hit").inc()
        await self._add(
            UsageEntry(
                route_id=route_id,
                api_key_id=key.id,
                model_id=None,
                model_name=headers.get("x-modelyard-model"),
                deployment_id=None,
                deployment_name=headers.get("x-modelyard-deployment"),
                input_tokens=0,
                output_tokens=0,
                cost_usd=Decimal(0),
                quality=None,
                license_basis=headers.get("x-modelyard-license"),
                attempts=0,
                stream=False,
                latency_ms=int((time.perf_counter() - started) * 1000),
                status="cached",
            )
        )
        headers.update(
            {
                "x-modelyard-route-id": route_id,
                "x-modelyard-cost-usd": "0",
                "x-modelyard-attempts": "0",
                "x-modelyard-cache": "hit",
            }
        )
        return hit["answer"], headers

    async def stream(
        self,
        body: ChatCompletionIn,
        headers: Mapping[str, str],
        key: KeyView,
        renderer: StreamRenderer | None = None,
        via: Via | None = None,
    ) -> tuple[AsyncIterator[bytes], dict[str, str]]:
        """Server-sent events, chat.completion.chunk ones unless `renderer` makes another
        API's. Fallback happens before the first byte; after it, a failure ends the stream
        with an error event and the ledger records a partial, priced request."""
        started = time.perf_counter()
        admission = await self.admit(body, self.controls(body, headers, key), key)
        decision = admission.decision
        prepare = self._redacting(decision)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        render = renderer or ChatEvents(include_usage)

        def opener(candidate: Candidate, adapter: Adapter, request: ChatRequest) -> Blocks:
            sent = prepare(candidate, request) if prepare else request
            if via is not None and sent is request:
                adapter = via(candidate, adapter)  # e.g. Responses forwarded as is
            restoring = prepare is not None and private_chat.leaves_our_machines(candidate)
            if renderer is None and not restoring and isinstance(adapter, RelayingAdapter):
                # Chat events to a chat client: the upstream's bytes, relayed.
                return adapter.relay(sent, candidate.model.hf_id, include_usage)
            chunks = adapter.stream(sent)
            if prepare is not None and restoring:
                chunks = private_chat.restored(chunks, prepare.redaction)
            return rendered(chunks, render, candidate.model.hf_id)

        try:
            candidate, first, rest, attempts = await self.executor.open_stream(
                decision, body, opener
            )
        except ExecutionFailed as exc:
            await self.failed(key, admission, exc, started, stream=True)
            raise
        routed = Routed(decision, candidate, attempts)
        redacted: dict[str, str] = {}
        if prepare is not None and private_chat.leaves_our_machines(candidate):
            redacted["x-modelyard-redacted"] = str(prepare.redaction.count)

        async def events() -> AsyncIterator[bytes]:
            usage: dict[str, Any] | None = None
            produced = 0
            status, error = "ok", None
            recorded = False

            async def finish() -> None:
                nonlocal recorded, usage
                recorded = True
                if usage is None:
                    # Cut short: price what was produced, one token per content event.
                    usage = {"prompt_tokens": decision.prompt_tokens, "completion_tokens": produced}
                cost = await self._record(
                    key,
                    decision,
                    candidate,
                    attempts,
                    usage,
                    started,
                    stream=True,
                    status=status,
                    error=error,
                )
                await self.settle(key, admission, cost, usage)

            try:
                block: EventBlock | None = first
                while block is not None:
                    if block.usage:
                        usage = block.usage
                    produced += block.content_events
                    if block.data:
                        yield block.data
                    block = await anext(rest, None)
                self.executor.health.succeeded(candidate.deployment.id)
                # Recorded before the end: a client that saw the end has a ledger record even
                # if this replica dies the next instant.
                await finish()
                yield await render.end(usage or {})
            except AdapterError as exc:
                status, error = "partial", f"{exc.code}: {exc.message}"
                self.executor.health.failed(candidate.deployment.id)
                yield render.failed(exc)
            except BaseException:
                status, error = "partial", "the client went away"
                raise
            finally:
                if not recorded:
                    await finish()

        estimate = Decimal(str(round(candidate.cost_usd, 12)))
        return events(), {**routed.headers(estimate), **redacted, **admission.headers}
