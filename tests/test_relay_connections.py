"""A relayed stream hands its upstream connection back to the pool: the gateway stops reading
at [DONE], and a connection left before the chunked body's end is closed, so every next
stream to that server would pay for a new one (a TLS handshake to a hosted provider)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from adapters.base import Target
from adapters.openai_compat import OpenAICompatibleAdapter, close_upstream_pool
from adapters.schemas import ChatRequest

pytestmark = pytest.mark.anyio

STREAMS = 8


class CountingUpstream:
    """An OpenAI-compatible stream that ends its body a moment after [DONE] (as a server does
    that flushes [DONE] first), and counts the connections it was asked on."""

    def __init__(self, after_done: float) -> None:
        self.after_done = after_done
        self.connections: set[int] = set()

    async def chat(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        assert request.transport is not None
        self.connections.add(id(request.transport))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index, text in enumerate(["Hel", "lo", ""]):
            delta = {"content": text} if text else {}
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "model": "m",
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": "stop" if not text else None}
                ],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if index == 0:
                await asyncio.sleep(0)
        await response.write(b"data: [DONE]\n\n")
        await asyncio.sleep(self.after_done)
        await response.write_eof()
        return response


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[CountingUpstream, str]]:
    counting = CountingUpstream(after_done=0.01)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", counting.chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield counting, f"http://127.0.0.1:{port}/v1"
    await close_upstream_pool()
    await runner.cleanup()


async def test_streams_reuse_one_upstream_connection(
    upstream: tuple[CountingUpstream, str],
) -> None:
    counting, base = upstream
    adapter = OpenAICompatibleAdapter(Target(kind="local", served_name="m", base_url=base))
    request = ChatRequest(messages=[{"role": "user", "content": "hi"}])
    for _ in range(STREAMS):
        blocks = [block async for block in adapter.relay(request, "public", False)]
        relayed = b"".join(block.data for block in blocks)
        assert b'"content": "Hel"' in relayed and b'"finish_reason": "stop"' in relayed
        assert b'"model": "public"' in relayed
    assert len(counting.connections) == 1, f"{len(counting.connections)} connections"
