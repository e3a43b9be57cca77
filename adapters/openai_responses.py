"""A Responses API request sent as is to an OpenAI-compatible server that serves POST
/v1/responses itself (vLLM, OpenAI): only `model` becomes the server's name for it.

`ResponsesForwarder` has an adapter's shape, so the router's execution (fallback, health,
timeouts, metrics) runs it like any adapter: `chat` answers the upstream's `response` object
and `stream` yields its events, each wrapped as `{"responses_event": event}`. The event that
ends the stream also carries the upstream's usage in chat completions' names, which is what
the ledger and limits read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from adapters import http1
from adapters.errors import MalformedResponse, UpstreamServerError
from adapters.errors import UpstreamUnavailable as Unavailable
from adapters.openai_compat import OpenAICompatibleAdapter, json_answer
from adapters.schemas import ChatRequest, usage

EVENT = "responses_event"  # the key a streamed Responses event is wrapped under
# Events that end a Responses stream; the first two are answers, the last a failure.
ENDS = ("response.completed", "response.incomplete")
FAILS = ("response.failed", "error")
# Events that carry generated text or arguments: one token each, for a stream cut short.
DELTAS = frozenset(("response.output_text.delta", "response.function_call_arguments.delta"))


def chat_usage(counts: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A usage in chat completions' names (what the ledger reads), from either API's."""
    if not counts or "prompt_tokens" in counts:
        return counts
    return usage(int(counts.get("input_tokens") or 0), int(counts.get("output_tokens") or 0))


def _checked_response(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("object") != "response":
        raise MalformedResponse("upstream answer is not a Responses API `response` object")
    if not isinstance(data.get("output"), list):
        raise MalformedResponse("upstream `response` has no output list")
    return data


def _failure(event: Mapping[str, Any]) -> UpstreamServerError:
    error = event.get("error") or (event.get("response") or {}).get("error") or event
    message = error.get("message") if isinstance(error, dict) else None
    return UpstreamServerError(f"upstream failed mid-answer: {message or str(error)[:500]}")


class ResponsesForwarder:
    """The Responses request `body` (a JSON object) for the server behind `inner`."""

    def __init__(self, inner: OpenAICompatibleAdapter, body: Mapping[str, Any]) -> None:
        self.inner = inner
        self.endpoint = http1.Endpoint.of(inner.base_url + "/responses")
        self.body = {**body, "model": inner.model}

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        """The upstream's `response` object (the chat request is not used: it is the same
        request, translated, for deployments that need it)."""
        data = json.dumps({**self.body, "stream": False}).encode()
        return _checked_response(json_answer(*await self.inner.post(self.endpoint, data)))

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        """The upstream's events as they arrive, wrapped; leaving early closes the connection."""
        data = json.dumps({**self.body, "stream": True}).encode()
        async with self.inner.streamed(self.endpoint, data) as answer:
            async for wrapped in _wrapped_events(answer):
                yield wrapped


async def _wrapped_events(answer: http1.Answer) -> AsyncIterator[dict[str, Any]]:
    """Server-sent Responses events (`event:` lines name them; each `data:` holds one with its
    `type`). A stream is whole when an answer event ended it: it has no [DONE]. It is still
    read to its end, so its connection goes back to the pool clean."""
    ended = False
    async for line in answer.lines():
        if ended or not line.startswith("data:"):
            continue  # event names (the data repeats them as `type`), blank lines, comments
        try:
            event = json.loads(line[5:].strip())
        except ValueError as exc:
            raise MalformedResponse(
                f"upstream sent an event that is not JSON: {line[:200]!r}"
            ) from exc
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise MalformedResponse("upstream sent an event without a type")
        if event["type"] in FAILS:
            raise _failure(event)
        if event["type"] in ENDS:
            counts = chat_usage((event.get("response") or {}).get("usage"))
            ended = True
            yield {EVENT: event, "usage": counts} if counts else {EVENT: event}
            continue
        yield {EVENT: event}
    if not ended:
        raise Unavailable("upstream ended the Responses stream before response.completed")
