"""OpenAI-compatible model servers the user runs: vLLM, llama.cpp's server, Ollama's /v1, TGI's
Messages API, over the lean HTTP/1.1 client (adapters/http1.py), its connections kept per
event loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from adapters import http1, json_bytes
from adapters.base import Target, Timeouts
from adapters.chat_events import (
    ChatEventRelay,
    EventBlock,
    content_events,
    error_message,
    estimated_usage,
    parse_event,
)
from adapters.errors import (
    AdapterError,
    ContextTooLong,
    MalformedResponse,
    RateLimited,
    UpstreamBadRequest,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from adapters.schemas import ChatRequest

_CONTEXT_WORDS = ("context length", "context window", "maximum context", "too long", "n_ctx")


def warm_upstream_pool() -> None:
    """This event loop's upstream connections (their TLS context) ready before a first request."""
    http1.pool().tls_context()


async def close_upstream_pool() -> None:
    http1.close_pool()


async def post_json(
    endpoint: http1.Endpoint, body: bytes, headers: dict[str, str], timeouts: Timeouts
) -> tuple[int, Mapping[str, str], bytes]:
    """One JSON POST to a server, within its timeouts: the status, headers and body, or one of
    our errors. On the lean client (adapters/http1.py): the request path's one-shot calls."""
    try:
        async with asyncio.timeout(timeouts.total):
            t = timeouts
            answer = await http1.post(endpoint, headers, body, t.connect, t.first_byte)
            async with answer:
                return answer.status, answer.headers, await answer.read()
    except TimeoutError as exc:
        raise UpstreamTimeout(f"upstream took over {timeouts.total:g} s") from exc


def json_answer(status: int, headers: Mapping[str, str], content: bytes) -> Any:
    """The parsed body of a server's answer to `post_json`, or our error for its status or for
    a 200 whose body is not JSON."""
    if status != 200:
        raise status_error(status, content, headers)
    try:
        return json.loads(content)
    except ValueError as exc:
        raise MalformedResponse("upstream answered 200 with a body that is not JSON") from exc


def status_error(status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
    """An upstream's HTTP error as one of ours, keeping its message."""
    message = f"upstream answered {status}: {error_message(body)}"
    if status == 429:
        retry_after = headers.get("retry-after")
        try:
            seconds = float(retry_after) if retry_after else None
        except ValueError:
            seconds = None
        return RateLimited(message, retry_after=seconds)
    if status >= 500:
        return UpstreamServerError(message, upstream_status=status)
    if status in (401, 403):
        # A credentials problem of this deployment; another one may still answer.
        return UpstreamServerError(message, upstream_status=status)
    if any(word in message.lower() for word in _CONTEXT_WORDS):
        return ContextTooLong(message, upstream_status=status)
    return UpstreamBadRequest(message, upstream_status=status)


def _checked_completion(data: Any) -> dict[str, Any]:
    """A chat.completion with at least one choice holding a message, or MalformedResponse."""
    try:
        choice = data["choices"][0]
        content = choice["message"].get("content")
        if content is not None and not isinstance(content, str):
            raise TypeError("content is not text")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise MalformedResponse(f"upstream answer is not a chat completion: {exc!r}") from exc
    return dict(data)


class OpenAICompatibleAdapter:
    def __init__(self, target: Target) -> None:
        if not target.base_url:
            raise UpstreamBadRequest("a local deployment needs a base URL")
        # Parsed once: a URL given as text would be parsed again on every request.
        self.base_url = target.base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.endpoint = http1.Endpoint.of(self.url)
        self.model = target.served_name
        self.timeouts = target.timeouts
        self.headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
        self.json_headers = {**self.headers, "Content-Type": "application/json"}

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        body = json_bytes.dumps(request.openai_body(self.model, stream=False))
        return _checked_completion(json_answer(*await self.post(self.endpoint, body)))

    async def post(
        self, endpoint: http1.Endpoint, body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One JSON POST to this deployment's server (see `post_json`)."""
        return await post_json(endpoint, body, self.json_headers, self.timeouts)

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        """Server-sent events passed on as they arrive. Leaving early closes the upstream
        connection, which stops generation there."""
        body = json_bytes.dumps(request.openai_body(self.model, stream=True))
        async with self.streamed(self.endpoint, body) as answer:
            tally = _Tally(request)
            async for chunk in _events(answer):
                tally.saw(chunk)
                yield chunk
            if not tally.usage_seen:
                yield tally.usage_chunk(self.model)

    @asynccontextmanager
    async def streamed(self, endpoint: http1.Endpoint, body: bytes) -> AsyncIterator[http1.Answer]:
        """A streamed answer of this deployment's server with status 200 (else our error for its
        status), within the total timeout."""
        t = self.timeouts
        try:
            async with asyncio.timeout(t.total):
                headers = self.json_headers
                answer = await http1.post(endpoint, headers, body, t.connect, t.first_byte)
                async with answer:
                    if answer.status != 200:
                        raise status_error(answer.status, await answer.read(), answer.headers)
                    yield answer
        except TimeoutError as exc:
            raise UpstreamTimeout(f"upstream took over {t.total:g} s") from exc

    async def relay(
        self, request: ChatRequest, public_model: str, include_usage: bool
    ) -> AsyncIterator[EventBlock]:
        """The upstream's chat events as it sent them, `model` renamed to `public_model`, a
        block per read (adapters/chat_events.py). Read on the lean client: httpx's line
        iterator cost more per event than the relay itself, and aiohttp's request delayed the
        first bytes."""
        body = json_bytes.dumps(request.openai_body(self.model, stream=True))
        events = ChatEventRelay(self.model, public_model, include_usage, len(request.prompt_text()))
        async with self.streamed(self.endpoint, body) as answer:
            async for data in answer.chunks():
                for block in events.feed(data):
                    if block.data or block.usage:
                        yield block
                if events.done:
                    # What follows [DONE] is the body's end: read, the connection is kept for
                    # the next request instead of closed (to a hosted provider a new one costs
                    # a TLS handshake). A server that keeps the stream open is not waited for.
                    await answer.read_end(STREAM_END_SECONDS)
                    break
            for block in events.finish():
                if block.data or block.usage:
                    yield block


# How long a stream's end may take to arrive after its [DONE] (the last chunk of a chunked
# answer follows at once from any server that ends its stream).
STREAM_END_SECONDS = 0.05


class _Tally:
    """What `estimated_usage` needs of a stream whose server sends no usage."""

    def __init__(self, request: ChatRequest) -> None:
        self.prompt_chars = len(request.prompt_text())
        self.completion_events = 0
        self.usage_seen = False
        self.last_id = ""

    def saw(self, chunk: dict[str, Any]) -> None:
        self.last_id = str(chunk.get("id", self.last_id))
        if chunk.get("usage"):
            self.usage_seen = True
        self.completion_events += content_events(chunk)

    def usage_chunk(self, model: str) -> dict[str, Any]:
        return estimated_usage(self.last_id, model, self.prompt_chars, self.completion_events)


async def _events(answer: http1.Answer) -> AsyncIterator[dict[str, Any]]:
    async for line in answer.lines():
        if not line.startswith("data:"):
            continue  # blank separators, comments and event names
        payload = line[5:].strip()
        if payload == "[DONE]":
            await answer.read_end(STREAM_END_SECONDS)
            return
        yield parse_event(payload.encode())
    raise UpstreamUnavailable("upstream ended the stream before [DONE]")
