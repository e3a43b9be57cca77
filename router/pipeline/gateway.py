"""One routed request, end to end: controls → decision → execution with fallback → ledger.
The HTTP layer (router/api/*_http.py) only parses and renders."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from typing import Any

from adapters.base import Adapter, RelayingAdapter
from adapters.chat_events import EventBlock
from adapters.errors import AdapterError
from adapters.openai_responses import chat_usage
from adapters.schemas import ChatRequest
from catalog.snapshot import CatalogSnapshot, SnapshotCache
from router.accounts import policy_limits
from router.accounts.keys import KeyView
from router.accounts.ledger import Ledger, UsageEntry
from router.accounts.policy import TeamBudget
from router.accounts.policy_limits import Effective, Layer
from router.core.errors import PolicyRefused, RouteError
from router.core.requests import ChatCompletionIn, RouteControls
from router.pipeline import chat_privacy as private_chat
from router.pipeline.cascade import STRATEGY as CASCADE
from router.pipeline.cascade import Cascade, CascadeOutcome
from router.pipeline.execution import Attempt, ExecutionFailed, Executor, Via, keep_request
from router.pipeline.learning import TrafficLearning
from router.pipeline.routed import (
    Admission,
    Body,
    Routed,
    actual_cost,
    capability_param,
    controls_from_headers,
    model_of,
)
from router.pipeline.stream_render import ChatEvents, StreamRenderer, rendered
from router.pipeline.telemetry import Telemetry
from router.privacy.check import SCANNING_RULES
from router.privacy.check import check as privacy_check
from router.quality.estimators import QualityEstimator
from router.routing.decision import Candidate, Decision, RouteRequest, decide, next_route_id
from router.routing.default_need import DefaultNeed
from router.routing.spread import Spreader
from router.state.limits import InProcessLimits, KeyLimits, Limits
from router.state.response_cache import InProcessCache, ResponseCache, cache_key

# A `route` object as JSON with only the fields the client set: the key of the controls' memo.
_ROUTE_JSON = RouteControls.__pydantic_serializer__.to_json

Blocks = AsyncIterator[EventBlock]


class Gateway:
    need: DefaultNeed | None = None  # set by the app from MODELYARD_AUTO_NEED
    learning: TrafficLearning | None = None  # feedback learning and exploration (learning.py)

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
        # Writes refused widening attempts to the audit log (router/accounts/audit.py).
        self.policy_audit: Callable[[int, str, PolicyRefused, str | None], None] | None = None
        # strategy "cascade": checked answers, cheapest first (router/pipeline/cascade.py).
        self.cascade = Cascade(executor)

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
        learned = self.learning.estimator(self.estimator, key) if self.learning else None
        return self.decide(body, controls, None if budget is None else float(budget), learned)

    async def admit(self, body: Body, controls: RouteControls, key: KeyView) -> Admission:
        """Plan, then pass the key's rate limits and reserve its budget, or refuse."""
        if self.telemetry is not None and isinstance(body, ChatCompletionIn):
            max_tokens = body.max_completion_tokens or body.max_tokens
            self.telemetry.requested(body.model, max_tokens, body.stream)
        decision = await self.plan(body, controls, key)
        explored = 0.0  # held in the key's exploration budget until the answer's cost is known
        if self.learning is not None and isinstance(body, ChatCompletionIn):
            decision = await self.learning.explore(self, body, controls, key, decision)
            explored = decision.candidates[0].cost_usd if decision.exploration else 0.0
        if not decision.candidates:
            raise self.no_candidate(decision, body)
        limits = self.limits_for(key)
        tokens = decision.prompt_tokens + decision.completion_tokens
        rate = await self.limits.admit(key.id, limits, tokens) if limits.rated else None
        if rate is not None and not rate.allowed:
            await self._release_exploration(key, explored)
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
                await self._release_exploration(key, explored)
                explored = 0.0
                decision = self.decide(body, controls, 0.0)
                if not decision.candidates:
                    raise self.no_candidate(decision, body)
                reserved = 0.0
        return Admission(decision, tokens, reserved, rate.headers if rate else {}, explored)

    async def _release_exploration(self, key: KeyView, explored: float) -> None:
        """An explored answer that will not be asked for: nothing spent from its budget."""
        if explored and self.learning is not None:
            await self.learning.settle(self.limits, key, explored, Decimal(0))

    async def settle(
        self, key: KeyView, admission: Admission, cost: Decimal, usage: Mapping[str, Any] | None
    ) -> None:
        """The real cost against the reservation, the real tokens against the estimate."""
        limits = self.limits_for(key)
        if limits.budgeted:
            await self.limits.settle(key.id, limits, admission.reserved, cost)
        if admission.explored and self.learning is not None:
            await self.learning.settle(self.limits, key, admission.explored, cost)
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

    def controls(self, body: Body, headers: Mapping[str, str], key: KeyView) -> RouteControls:
        """The request's routing controls: the key's and its team's limits, narrowed (never
        widened) by X-Route-* headers and the `route` object; defaults from the request, else
        the key, else the team (router/accounts/policy_limits.py)."""
        # Most requests carry no controls and name no model a policy lists: the key's policy
        # is their controls as it stands (no merge, no pydantic validation).
        p = key.policy
        asked = tuple((h, v) for h, v in headers.items() if h.startswith("x-route-"))
        memo: tuple[Any, ...]
        if body.route is not None or asked:
            # Clients repeat the same few `route` objects and headers: the merge (and its
            # checks) is kept per key, catalog version, model, what was asked and the day
            # (a licence profile's date is checked against today).
            route = None if body.route is None else _ROUTE_JSON(body.route, exclude_unset=True)
            day = int(time.time() // 86400)
            memo = (self.snapshot().version, model_of(body), route, asked, day)
        else:
            model = model_of(body).lower()
            if key.team_policy is None and (
                (p.models is None and not p.exclude) or model == "auto"
            ):
                return p
            # The key's and its team's policies merged depend on nothing else of the request
            # but its model: merged once per model and catalog version while the key is cached.
            memo = (self.snapshot().version, model)
        found: RouteControls | None = key.memo.get(memo)
        if found is None:
            # A refusal raises here and is never kept: each one is counted and audited.
            found = self.effective(body, headers, key).controls
            if len(key.memo) > 256:
                key.memo.clear()
            key.memo[memo] = found
        return found

    def effective(self, body: Body, headers: Mapping[str, str], key: KeyView) -> Effective:
        """The controls with where each came from; a widening attempt is refused (403),
        counted and written to the audit log."""
        asked: list[Layer] = []
        if any(h.startswith("x-route-") for h in headers):
            asked.append(Layer("request", "headers", controls_from_headers(headers)))
        if body.route is not None:
            asked.append(Layer("request", "route", body.route))
        team = key.policy.team
        bound = (team, key.team_policy) if team and key.team_policy is not None else None
        try:
            return policy_limits.effective(
                key.name, key.policy, bound, asked, model_of(body), self._resolve
            )
        except PolicyRefused as exc:
            self.metrics.refusals.labels("policy").inc()
            self.metrics.policy_refusals.labels(exc.field.split(".")[0], exc.level).inc()
            if self.policy_audit is not None:
                self.policy_audit(key.id, key.name, exc, headers.get("x-request-id"))
            raise

    def policy_view(self, body: Body, headers: Mapping[str, str], key: KeyView) -> dict[str, Any]:
        """For a dry run: the effective limits and defaults, and where each came from."""
        p = key.policy
        team = self.limits_for(key)
        key_label, team_label = f"key '{key.name}'", f"team '{p.team}'"
        extra = {
            "requests_per_minute": (p.requests_per_minute, key_label),
            "tokens_per_minute": (p.tokens_per_minute, key_label),
            "budget_usd_per_day": (p.budget_usd_per_day, key_label),
            "budget_usd_per_month": (p.budget_usd_per_month, key_label),
            "team_budget_usd_per_day": (team.team_usd_per_day, team_label),
            "team_budget_usd_per_month": (team.team_usd_per_month, team_label),
        }
        grants = {"allow_redact": bool(p.allow_redact), "relax": list(p.relax or [])}
        return self.effective(body, headers, key).view(grants, extra)

    def _resolve(self, ref: str) -> str | None:
        found = self.snapshot().find(ref)
        return found.hf_id if found is not None else None

    def decide(
        self,
        body: Body,
        controls: RouteControls,
        budget_usd: float | None = None,
        estimator: QualityEstimator | None = None,
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
        # The server's default need for auto, where one is set (routing/default_need.py).
        choose = self.need.decide if self.need is not None else decide
        decision = choose(
            request, self.snapshot(), estimator or self.estimator, cooling, self.providers, speeds
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
                exploration=decision.exploration,
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
        cascade: CascadeOutcome | None = None
        try:
            if decision.strategy == CASCADE:  # each candidate's own chat path, checked
                cascade = await self.cascade.run(decision, body, prepare or keep_request)
                candidate, answer, attempts = cascade.candidate, cascade.answer, cascade.attempts
            else:
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
            key,
            decision,
            candidate,
            attempts,
            usage,
            started,
            stream=False,
            status="ok",
            error=cascade.error() if cascade is not None else None,
        )
        spent, used = cost, dict(usage or {})
        if cascade is not None:
            spent, used = await self._escalations(key, decision, cascade, started, cost, used)
        if self.learning is not None:
            self.learning.record(key, decision, candidate, body, spent)
        await self.settle(key, admission, spent, used)
        routed = Routed(decision, candidate, attempts).headers(spent)
        if cascade is not None:
            routed["x-modelyard-cascade"] = cascade.header()
        if redacted and prepare is not None:
            routed["x-modelyard-redacted"] = str(prepare.redaction.count)
        if cached_as is not None and controls.cache_ttl_seconds:
            entry = {"answer": answer, "headers": routed}
            await self.cache.put(cached_as, entry, controls.cache_ttl_seconds)
            routed["x-modelyard-cache"] = "miss"
            self.metrics.cache.labels("miss").inc()
        return answer, {**routed, **admission.headers}

    async def _escalations(
        self,
        key: KeyView,
        decision: Decision,
        cascade: CascadeOutcome,
        started: float,
        cost: Decimal,
        usage: dict[str, Any],
    ) -> tuple[Decimal, dict[str, Any]]:
        """Each answer the cascade paid for and did not return, in the ledger under
        `<route id>-<n>`; the cost and tokens of all its answers, for the key's budget."""
        for n, step in enumerate(cascade.steps[:-1], start=1):
            used = chat_usage(step.answer.get("usage")) or {}
            cost += await self._record(
                key,
                dataclasses.replace(decision, route_id=f"{decision.route_id}-{n}"),
                step.candidate,
                [a for a in cascade.attempts if a.deployment == step.candidate.deployment.name],
                used,
                started,
                stream=False,
                status="escalated",
                error=f"{step.verdict.check}: {step.verdict.detail}",
            )
            for field in ("prompt_tokens", "completion_tokens"):
                usage[field] = int(usage.get(field) or 0) + int(used.get(field) or 0)
        return cost, usage

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
        controls = self.controls(body, headers, key)
        if controls.strategy == CASCADE:
            raise RouteError(
                "strategy 'cascade' checks each answer whole before returning it, so it does "
                "not stream: send stream: false (or another strategy)",
                param="stream",
            )
        admission = await self.admit(body, controls, key)
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
                if self.learning is not None and status == "ok":
                    self.learning.record(key, decision, candidate, body, cost)

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
