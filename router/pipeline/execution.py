"""Execution: call the chosen deployment; before the first byte, fall back to the next
candidate on any retryable failure. Every attempt is kept for the logs and the ledger."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from adapters.base import Adapter, Target
from adapters.chat_events import EventBlock
from adapters.credentials import short_reason
from adapters.errors import AdapterError, UpstreamBadRequest
from adapters.registry import make_adapter
from adapters.schemas import ChatRequest
from catalog.snapshot import DeploymentView
from router.pipeline.metrics import RouterMetrics
from router.pipeline.upstream_clock import current_clock
from router.routing.decision import Candidate, Decision
from router.routing.spread import Spreader
from router.state.health import Health

log = logging.getLogger("modelyard.router")
T = TypeVar("T")
Client = TypeVar("Client")

# What a candidate is sent, given the request: privacy redact sends hosted deployments a
# request with placeholders, local ones the request as it came.
Prepare = Callable[[Candidate, ChatRequest], ChatRequest]
# How a candidate's stream is started, in the bytes the client gets (router/pipeline/gateway.py).
Opener = Callable[[Candidate, Adapter, ChatRequest], AsyncIterator[EventBlock]]


def keep_request(_candidate: Candidate, request: ChatRequest) -> ChatRequest:
    return request


# Another API's way to a candidate: the adapter to call instead of the deployment's own (the
# Responses API forwarded as is, router/api/responses_forward.py). Used only for the request as it
# came: a redacted one takes the deployment's own chat path.
Via = Callable[[Candidate, Adapter], Adapter]


def _adapter(
    adapter: Adapter, candidate: Candidate, request: ChatRequest, sent: ChatRequest, via: Via | None
) -> Adapter:
    return adapter if via is None or sent is not request else via(candidate, adapter)


@dataclass(frozen=True)
class Attempt:
    deployment: str
    error_code: str | None = None
    error: str | None = None
    provider: str | None = None
    upstream_status: int | None = None
    cooled: bool = False  # this failure put the deployment to cool down

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "deployment": self.deployment,
            "provider": self.provider,
            "upstream_status": self.upstream_status,
            "error_code": self.error_code,
            "error": self.error,
        }

    def describe(self) -> str:
        """One plain sentence: which deployment, which provider, what status, why."""
        status = f"status {self.upstream_status}" if self.upstream_status else self.error_code
        return f"{self.deployment} ({self.provider}) failed with {status}: {self.error}"


class ExecutionFailed(Exception):
    """No candidate answered. `last` is the final adapter error (None: there was no candidate)."""

    def __init__(self, attempts: list[Attempt], last: AdapterError | None) -> None:
        failed = [a for a in attempts if a.error_code]
        if not failed:
            message = "no candidate deployment"
        elif len(failed) == 1:
            message = failed[0].describe()
        else:
            message = f"{len(failed)} deployments failed; the last, {failed[-1].describe()}"
        super().__init__(message)
        self.attempts = attempts
        self.last = last


class DeploymentPool(Generic[Client]):
    """One client (chat adapter, embedder) per deployment as the current snapshot describes
    it; a changed deployment (new URL, new name) gets a new one."""

    def __init__(
        self, make: Callable[[Target], Client], provider_keys: Mapping[str, str] | None = None
    ) -> None:
        self._make = make
        self._keys = dict(provider_keys or {})
        self._clients: dict[DeploymentView, Client] = {}

    def __call__(self, deployment: DeploymentView) -> Client:
        client = self._clients.get(deployment)
        if client is None:
            if len(self._clients) > 10_000:
                self._clients.clear()
            client = self._clients[deployment] = self._make(
                Target(
                    kind=deployment.kind.value,
                    served_name=deployment.served_name,
                    base_url=deployment.base_url,
                    api_key=self._keys.get(deployment.provider),
                    max_context=deployment.max_context,
                )
            )
        return client


class AdapterPool(DeploymentPool[Adapter]):
    def __init__(self, provider_keys: Mapping[str, str] | None = None) -> None:
        super().__init__(make_adapter, provider_keys)


class Executor:
    def __init__(
        self,
        adapter_for: Callable[[DeploymentView], Adapter],
        health: Health,
        metrics: RouterMetrics | None = None,
    ) -> None:
        self.adapter_for = adapter_for
        self.health = health
        self.metrics = metrics or RouterMetrics()
        # Counts requests in flight and measures speeds, when spreading is on.
        self.load: Spreader | None = None

    def _failed(
        self, candidate: Candidate, exc: AdapterError, attempts: list[Attempt], route_id: str
    ) -> None:
        name = candidate.deployment.name
        # A refused request (bad input, a parameter it cannot take, too long for it) says
        # nothing about the deployment's health: counting it would let one client's bad
        # requests take the deployment away from every key.
        refused = isinstance(exc, UpstreamBadRequest)
        cooled = False if refused else self.health.failed(candidate.deployment.id)
        if cooled:
            self.metrics.cooldowns.labels(name).inc()
        attempts.append(
            Attempt(
                name,
                exc.code,
                short_reason(exc.message),
                candidate.deployment.provider,
                exc.upstream_status,
                cooled,
            )
        )
        if exc.retryable:
            self.metrics.fallbacks.labels(name, exc.code).inc()
        log.warning(
            "route %s: %s failed (%s: %s)%s",
            route_id,
            candidate.deployment.name,
            exc.code,
            exc.message,
            ", falling back" if exc.retryable else "",
            extra={"route_id": route_id},
        )

    async def complete(
        self,
        decision: Decision,
        request: ChatRequest,
        prepare: Prepare = keep_request,
        via: Via | None = None,
    ) -> tuple[Candidate, dict[str, Any], list[Attempt]]:
        attempts: list[Attempt] = []
        last: AdapterError | None = None
        load = self.load
        clock = current_clock()
        for candidate in decision.candidates:
            deployment_id = candidate.deployment.id
            started = time.perf_counter()
            if load is not None:
                load.begin(deployment_id)
            waiting = 0.0
            try:
                adapter = self.adapter_for(candidate.deployment)
                sent = prepare(candidate, request)
                chosen = _adapter(adapter, candidate, request, sent, via)
                waiting = time.perf_counter()
                answer = await chosen.chat(sent)
            except AdapterError as exc:
                self._failed(candidate, exc, attempts, decision.route_id)
                last = exc
                if not exc.retryable:
                    break
                continue
            finally:
                if clock is not None and waiting:
                    clock.waited += time.perf_counter() - waiting
                if load is not None:
                    load.end(deployment_id)
            if load is not None:
                tokens = int((answer.get("usage") or {}).get("completion_tokens") or 0)
                load.speeds.observe(deployment_id, time.perf_counter() - started, tokens)
            self.health.succeeded(candidate.deployment.id)
            attempts.append(
                Attempt(candidate.deployment.name, provider=candidate.deployment.provider)
            )
            return candidate, answer, attempts
        raise ExecutionFailed(attempts, last)

    async def first_answer(
        self, decision: Decision, call: Callable[[Candidate], Awaitable[T]]
    ) -> tuple[Candidate, T, list[Attempt]]:
        """`call` on each candidate in turn until one answers, with the same fallback, health
        and metrics as chat (`complete` keeps its own loop: it is the hot path)."""
        attempts: list[Attempt] = []
        last: AdapterError | None = None
        clock = current_clock()
        for candidate in decision.candidates:
            waiting = time.perf_counter()
            try:
                answer = await call(candidate)
            except AdapterError as exc:
                self._failed(candidate, exc, attempts, decision.route_id)
                last = exc
                if not exc.retryable:
                    break
                continue
            finally:
                if clock is not None:
                    clock.waited += time.perf_counter() - waiting
            self.health.succeeded(candidate.deployment.id)
            attempts.append(Attempt(candidate.deployment.name))
            return candidate, answer, attempts
        raise ExecutionFailed(attempts, last)

    async def open_stream(
        self, decision: Decision, request: ChatRequest, opener: Opener
    ) -> tuple[Candidate, EventBlock, AsyncIterator[EventBlock], list[Attempt]]:
        """The first block from the first candidate that produces one, and the rest to come.
        `opener` starts a candidate's stream, already in the bytes the client will get."""
        attempts: list[Attempt] = []
        last: AdapterError | None = None
        load = self.load
        clock = current_clock()
        for candidate in decision.candidates:
            stream: AsyncIterator[EventBlock] | None = None
            started = time.perf_counter()
            if load is not None:
                load.begin(candidate.deployment.id)
            waiting = 0.0
            try:
                adapter = self.adapter_for(candidate.deployment)
                stream = aiter(opener(candidate, adapter, request))
                waiting = time.perf_counter()  # the stream's request is sent on the first read
                first = await anext(stream)
            except StopAsyncIteration:
                exc: AdapterError = AdapterError("the upstream sent an empty stream")
            except AdapterError as error:
                exc = error
            else:
                attempts.append(
                    Attempt(candidate.deployment.name, provider=candidate.deployment.provider)
                )
                if load is not None:
                    stream = _measured(load, candidate.deployment.id, first, stream, started)
                return candidate, first, stream, attempts
            finally:
                if clock is not None and waiting:
                    clock.waited += time.perf_counter() - waiting
            if load is not None:
                load.end(candidate.deployment.id)
            if stream is not None and hasattr(stream, "aclose"):
                await stream.aclose()
            self._failed(candidate, exc, attempts, decision.route_id)
            last = exc
            if not exc.retryable:
                break
        raise ExecutionFailed(attempts, last)


async def _measured(
    load: Spreader,
    deployment_id: int,
    first: EventBlock,
    rest: AsyncIterator[EventBlock],
    started: float,
) -> AsyncIterator[EventBlock]:
    """The rest of a stream, timed: the first block came `ttft` after the call; tokens are the
    upstream's count when it sends usage, else one per content event. In flight until done."""
    ttft = time.perf_counter() - started
    tokens = 0
    counted: int | None = None
    complete = False

    def saw(block: EventBlock) -> None:
        nonlocal tokens, counted
        if block.usage and block.usage.get("completion_tokens"):
            counted = int(block.usage["completion_tokens"])
        tokens += block.content_events

    saw(first)  # one read may carry the whole answer
    try:
        async for block in rest:
            saw(block)
            yield block
        complete = True
    finally:
        load.end(deployment_id)
        if complete:
            elapsed = time.perf_counter() - started
            load.speeds.observe(deployment_id, elapsed, counted or max(tokens, 1), ttft)
