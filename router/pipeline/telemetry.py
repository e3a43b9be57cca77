"""OpenTelemetry traces: one span per model request, with the GenAI semantic conventions'
attributes (operation, request and response model, provider, tokens) and the router's own
(deployment, cost, route decision), fallbacks and cool-downs as events, and the caller's
`traceparent` as parent.

Off unless an OTLP endpoint is configured: then the process has no `Telemetry` at all and the
request path pays one `is None` test. Never recorded: prompt or answer text, API keys, provider
keys — only names, numbers and codes.

The web layer opens the span when a request arrives (`open`) and closes it when the answer
has been sent (`close`); in between the gateway adds what it learns (`requested`,
`answered`) to the span of the request in progress, found through a context variable.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from router.pipeline.execution import Attempt
    from router.routing.decision import Candidate, Decision


# Which API each POST path serves, as gen_ai.operation.name names it.
OPERATIONS = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "text_completion",
    "/v1/responses": "chat",
    "/v1/messages": "chat",
    "/v1/embeddings": "embeddings",
}


@dataclass
class RequestSpan:
    span: Span
    operation: str


_current: contextvars.ContextVar[RequestSpan | None] = contextvars.ContextVar(
    "modelyard_request_span", default=None
)


class Telemetry:
    """Spans to an OTLP/HTTP endpoint, batched off the request path."""

    def __init__(self, endpoint: str, service_name: str = "modelyard", exporter: Any = None):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        url = endpoint.rstrip("/")
        if not url.endswith("/v1/traces"):
            url += "/v1/traces"  # the OTLP/HTTP convention for a base endpoint
        # Resource(...) rather than Resource.create(...): the latter reads OTEL_* variables,
        # and settings are read at the composition root only.
        self.provider = TracerProvider(resource=Resource({"service.name": service_name}))
        self.provider.add_span_processor(BatchSpanProcessor(exporter or OTLPSpanExporter(url)))
        self.tracer = self.provider.get_tracer("modelyard.router")
        self.propagator = TraceContextTextMapPropagator()

    # --- the web layer ---------------------------------------------------------------------

    def open(
        self, path: str, headers: Mapping[str, str]
    ) -> tuple[RequestSpan, contextvars.Token[RequestSpan | None]] | None:
        """The request's span, a child of the caller's `traceparent` when it sent one."""
        operation = OPERATIONS.get(path)
        if operation is None:
            return None
        from opentelemetry.trace import SpanKind

        parent = self.propagator.extract(headers)
        span = self.tracer.start_span(operation, context=parent, kind=SpanKind.SERVER)
        span.set_attribute("gen_ai.operation.name", operation)
        span.set_attribute("url.path", path)
        current = RequestSpan(span, operation)
        return current, _current.set(current)

    def close(
        self,
        opened: tuple[RequestSpan, contextvars.Token[RequestSpan | None]],
        status: int | None,
    ) -> None:
        from opentelemetry.trace import Status, StatusCode

        current, token = opened
        span = current.span
        if status is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_attribute("error.type", str(status))
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        span.end()
        _current.reset(token)

    def shutdown(self) -> None:
        """Send what is buffered, then stop."""
        self.provider.shutdown()

    # --- the gateway -----------------------------------------------------------------------

    @staticmethod
    def requested(model: str, max_tokens: int | None, stream: bool) -> None:
        current = _current.get()
        if current is None:
            return
        span = current.span
        span.update_name(f"{current.operation} {model}")
        span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("modelyard.stream", stream)
        if max_tokens is not None:
            span.set_attribute("gen_ai.request.max_tokens", max_tokens)

    @staticmethod
    def answered(
        decision: Decision,
        candidate: Candidate | None,
        attempts: Sequence[Attempt],
        usage: Mapping[str, Any] | None,
        cost: Decimal,
        status: str,
    ) -> None:
        current = _current.get()
        if current is None:
            return
        span = current.span
        span.set_attribute("modelyard.route.id", decision.route_id)
        span.set_attribute("modelyard.route.strategy", decision.strategy)
        span.set_attribute("modelyard.route.task", decision.task)
        span.set_attribute("modelyard.route.candidates", len(decision.candidates))
        span.set_attribute("modelyard.route.excluded", len(decision.excluded))
        span.set_attribute("modelyard.attempts", len(attempts))
        span.set_attribute("modelyard.status", status)
        span.set_attribute("modelyard.cost_usd", float(cost))
        if candidate is not None:
            span.set_attribute("gen_ai.response.model", candidate.model.hf_id)
            span.set_attribute("gen_ai.provider.name", candidate.deployment.provider)
            span.set_attribute("modelyard.deployment", candidate.deployment.name)
            span.set_attribute("modelyard.deployment.kind", candidate.deployment.kind.value)
            span.set_attribute("modelyard.predicted_quality", candidate.quality)
            span.set_attribute("modelyard.estimated_cost_usd", candidate.cost_usd)
        if usage:
            span.set_attribute("gen_ai.usage.input_tokens", int(usage.get("prompt_tokens") or 0))
            span.set_attribute(
                "gen_ai.usage.output_tokens", int(usage.get("completion_tokens") or 0)
            )
        _attempt_events(span, attempts)


def _attempt_events(span: Span, attempts: Sequence[Attempt]) -> None:
    for i, attempt in enumerate(attempts):
        if not attempt.error_code:
            continue
        # A failure another deployment followed is a fallback; the last one ended the request.
        name = "modelyard.fallback" if i + 1 < len(attempts) else "modelyard.attempt_failed"
        details: dict[str, str | int] = {
            "modelyard.deployment": attempt.deployment,
            "gen_ai.provider.name": attempt.provider or "",
            "error.type": attempt.error_code,
        }
        if attempt.upstream_status:
            details["modelyard.upstream_status"] = attempt.upstream_status
        span.add_event(name, details)
        if attempt.cooled:
            span.add_event("modelyard.cooldown", {"modelyard.deployment": attempt.deployment})
