"""Execution: call the chosen deployment; before the first byte, fall back to the next
candidate on any retryable failure. Every attempt is kept for the logs and the ledger."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from adapters.base import Adapter, Target
from adapters.errors import AdapterError
from adapters.registry import make_adapter
from adapters.schemas import ChatRequest
from catalog.snapshot import DeploymentView
from router.decision import Candidate, Decision
from router.health import Health
from router.metrics import RouterMetrics

log = logging.getLogger("modelyard.router")
T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    deployment: str
    error_code: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"deployment": self.deployment, "error_code": self.error_code, "error": self.error}


class ExecutionFailed(Exception):
    """No candidate answered. `last` is the final adapter error (None: there was no candidate)."""

    def __init__(self, attempts: list[Attempt], last: AdapterError | None) -> None:
        super().__init__(last.message if last else "no candidate deployment")
        self.attempts = attempts
        self.last = last


class AdapterPool:
    """One adapter per deployment as the current snapshot describes it; a changed deployment
    (new URL, new name) gets a new adapter."""

    def __init__(self, provider_keys: Mapping[str, str] | None = None) -> None:
        self._keys = dict(provider_keys or {})
        self._adapters: dict[DeploymentView, Adapter] = {}

    def __call__(self, deployment: DeploymentView) -> Adapter:
        adapter = self._adapters.get(deployment)
        if adapter is None:
            if len(self._adapters) > 10_000:
                self._adapters.clear()
            adapter = self._adapters[deployment] = make_adapter(
                Target(
                    kind=deployment.kind.value,
                    served_name=deployment.served_name,
                    base_url=deployment.base_url,
                    api_key=self._keys.get(deployment.provider),
                    max_context=deployment.max_context,
                )
            )
        return adapter


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

    def _failed(
        self, candidate: Candidate, exc: AdapterError, attempts: list[Attempt], route_id: str
    ) -> None:
        attempts.append(Attempt(candidate.deployment.name, exc.code, exc.message))
        name = candidate.deployment.name
        if self.health.failed(candidate.deployment.id):
            self.metrics.cooldowns.labels(name).inc()
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
        self, decision: Decision, request: ChatRequest
    ) -> tuple[Candidate, dict[str, Any], list[Attempt]]:
        attempts: list[Attempt] = []
        last: AdapterError | None = None
        for candidate in decision.candidates:
            try:
                adapter = self.adapter_for(candidate.deployment)
                answer = await adapter.chat(request)
            except AdapterError as exc:
                self._failed(candidate, exc, attempts, decision.route_id)
                last = exc
                if not exc.retryable:
                    break
                continue
            self.health.succeeded(candidate.deployment.id)
            attempts.append(Attempt(candidate.deployment.name))
            return candidate, answer, attempts
        raise ExecutionFailed(attempts, last)

    async def first_answer(
        self, decision: Decision, call: Callable[[Candidate], Awaitable[T]]
    ) -> tuple[Candidate, T, list[Attempt]]:
        """`call` on each candidate in turn until one answers, with the same fallback, health
        and metrics as chat (`complete` keeps its own loop: it is the hot path)."""
        attempts: list[Attempt] = []
        last: AdapterError | None = None
        for candidate in decision.candidates:
            try:
                answer = await call(candidate)
            except AdapterError as exc:
                self._failed(candidate, exc, attempts, decision.route_id)
                last = exc
                if not exc.retryable:
                    break
                continue
            self.health.succeeded(candidate.deployment.id)
            attempts.append(Attempt(candidate.deployment.name))
            return candidate, answer, attempts
        raise ExecutionFailed(attempts, last)

    async def open_stream(
        self, decision: Decision, request: ChatRequest
    ) -> tuple[Candidate, dict[str, Any], AsyncIterator[dict[str, Any]], list[Attempt]]:
        """The first chunk from the first candidate that produces one, and the rest to come."""
        attempts: list[Attempt] = []
        last: AdapterError | None = None
        for candidate in decision.candidates:
            stream: AsyncIterator[dict[str, Any]] | None = None
            try:
                stream = aiter(self.adapter_for(candidate.deployment).stream(request))
                first = await anext(stream)
            except StopAsyncIteration:
                exc: AdapterError = AdapterError("the upstream sent an empty stream")
            except AdapterError as error:
                exc = error
            else:
                attempts.append(Attempt(candidate.deployment.name))
                return candidate, first, stream, attempts
            if stream is not None and hasattr(stream, "aclose"):
                await stream.aclose()
            self._failed(candidate, exc, attempts, decision.route_id)
            last = exc
            if not exc.retryable:
                break
        raise ExecutionFailed(attempts, last)
