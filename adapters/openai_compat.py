"""OpenAI-compatible model servers the user runs: vLLM, llama.cpp's server, Ollama's /v1, TGI's
Messages API. httpx over the aiohttp transport, one pooled client per event loop."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import yarl
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

from adapters import json_bytes
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

IDLE_SECONDS = 4.0
_CONTEXT_WORDS = ("context length", "context window", "maximum context", "too long", "n_ctx")


@dataclass(frozen=True)
class _Pool:
    """One aiohttp connection pool per event loop (aiohttp sessions belong to a loop), used
    two ways: streams go through httpx over it; one-shot calls use the session directly,
    which measured a fifth less CPU per call than httpx's request and response objects."""

    session: aiohttp.ClientSession
    client: httpx.AsyncClient


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()


def _pool() -> _Pool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None or pool.session.closed:
        # Idle connections are let go after 4 s: servers built on uvicorn (vLLM, llama-cpp-
        # python's) close theirs after 5 s, and reusing one they are closing loses the request
        # (see the retry in `chat`). aiohttp's own default is 15 s.
        connector = aiohttp.TCPConnector(limit=512, keepalive_timeout=IDLE_SECONDS)
        session = aiohttp.ClientSession(connector=connector)
        client = httpx.AsyncClient(transport=AiohttpTransport(client=session), timeout=None)
        pool = _pools[loop] = _Pool(session, client)
    return pool


def shared_client() -> httpx.AsyncClient:
    """The process's pooled httpx client for this event loop."""
    return _pool().client


async def close_shared_client() -> None:
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.client.aclose()
        await pool.session.close()


async def post_json(
    url: yarl.URL | str,
    body: bytes,
    headers: Mapping[str, str],
    timeouts: Timeouts,
    session_timeout: aiohttp.ClientTimeout,
) -> tuple[int, Mapping[str, str], bytes]:
    """One JSON POST to a server on the shared pool, within its timeouts: the status, headers
    and body, or one of our errors."""

    async def send() -> tuple[int, Mapping[str, str], bytes]:
        async with _pool().session.post(
            url, data=body, headers=headers, timeout=session_timeout
        ) as response:
            return response.status, response.headers, await response.read()

    with translated(timeouts):
        try:
            async with asyncio.timeout(timeouts.total):
                with map_aiohttp_exceptions():  # aiohttp's errors as httpx's, as in streams
                    try:
                        return await send()
                    except aiohttp.ClientOSError as exc:
                        # A pooled connection found closing while the request was written
                        # (seen after a stream on the same pool): the upstream got no whole
                        # request, so sending it once more on a fresh one is safe.
                        if "Can not write request body" not in str(exc):
                            raise
                        return await send()
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


@contextmanager
def translated(timeouts: Any) -> Iterator[None]:
    """httpx's transport errors as ours."""
    try:
        yield
    except httpx.ReadTimeout as exc:
        raise UpstreamTimeout(f"no answer from upstream within {timeouts.first_byte:g} s") from exc
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise UpstreamUnavailable(f"cannot connect to upstream: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"upstream timed out: {exc}") from exc
    except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError) as exc:
        raise UpstreamUnavailable(f"upstream connection lost: {exc}") from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"upstream request failed: {exc}") from exc


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
        # Parsed once: both clients re-parse a URL given as text on every request.
        self.base_url = target.base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.parsed_url = yarl.URL(self.url)
        self.model = target.served_name
        self.timeouts = t = target.timeouts
        self.headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
        self.timeout = httpx.Timeout(
            connect=t.connect, read=t.first_byte, write=t.connect, pool=t.connect
        )
        self.session_timeout = aiohttp.ClientTimeout(
            sock_connect=t.connect, sock_read=t.first_byte, connect=t.connect
        )
        self.json_headers = {**self.headers, "Content-Type": "application/json"}

    async def chat(self, request: ChatRequest) -> dict[str, Any]:
        body = json_bytes.dumps(request.openai_body(self.model, stream=False))
        return _checked_completion(json_answer(*await self.post(self.parsed_url, body)))

    async def post(self, url: yarl.URL | str, body: bytes) -> tuple[int, Mapping[str, str], bytes]:
        """One JSON POST to this deployment's server (see `post_json`)."""
        return await post_json(url, body, self.json_headers, self.timeouts, self.session_timeout)

    async def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
        """Server-sent events passed on as they arrive. Leaving early closes the upstream
        connection, which stops generation there."""
        body = request.openai_body(self.model, stream=True)
        client = shared_client()
        with translated(self.timeouts):
            try:
                async with asyncio.timeout(self.timeouts.total):
                    async with client.stream(
                        "POST", self.url, json=body, headers=self.headers, timeout=self.timeout
                    ) as response:
                        if response.status_code != 200:
                            raw = await response.aread()
                            raise status_error(response.status_code, raw, response.headers)
                        tally = _Tally(request)
                        async for chunk in _events(response):
                            tally.saw(chunk)
                            yield chunk
                        if not tally.usage_seen:
                            yield tally.usage_chunk(self.model)
            except TimeoutError as exc:
                raise UpstreamTimeout(f"upstream took over {self.timeouts.total:g} s") from exc

    async def relay(
        self, request: ChatRequest, public_model: str, include_usage: bool
    ) -> AsyncIterator[EventBlock]:
        """The upstream's chat events as it sent them, `model` renamed to `public_model`, a
        block per read (adapters/chat_events.py). Reads straight from aiohttp: httpx's line
        iterator cost more per event than the relay itself."""
        body = json_bytes.dumps(request.openai_body(self.model, stream=True))
        events = ChatEventRelay(self.model, public_model, include_usage, len(request.prompt_text()))
        with translated(self.timeouts):
            try:
                async with asyncio.timeout(self.timeouts.total):
                    with map_aiohttp_exceptions():
                        async with _pool().session.post(
                            self.parsed_url,
                            data=body,
                            headers=self.json_headers,
                            timeout=self.session_timeout,
                        ) as response:
                            if response.status != 200:
                                raw = await response.read()
                                raise status_error(response.status, raw, response.headers)
                            async for data in response.content.iter_any():
                                for block in events.feed(data):
                                    if block.data or block.usage:
                                        yield block
                                if events.done:
                                    await _read_to_end(response)
                                    break
                        for block in events.finish():
                            if block.data or block.usage:
                                yield block
            except TimeoutError as exc:
                raise UpstreamTimeout(f"upstream took over {self.timeouts.total:g} s") from exc


# How long a stream's end may take to arrive after its [DONE] (the last chunk of a chunked
# answer follows at once from any server that ends its stream).
STREAM_END_SECONDS = 0.05


async def _read_to_end(response: aiohttp.ClientResponse) -> None:
    """Read what follows [DONE] (the chunked body's end): a response left unread is closed
    rather than returned to the pool, and the next stream to that server then pays for a new
    connection (a TLS handshake to a hosted provider). A server that keeps the stream open
    after [DONE] is not waited for: its connection is closed as before."""
    try:
        async with asyncio.timeout(STREAM_END_SECONDS):
            await response.read()
    except (TimeoutError, aiohttp.ClientError):
        pass


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


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    done = False
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, comments and event names
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            break
        yield parse_event(payload.encode())
    if not done:
        raise UpstreamUnavailable("upstream ended the stream before [DONE]")
