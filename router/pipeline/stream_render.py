"""How a routed stream of chat.completion.chunk dicts becomes bytes on the wire.

The gateway does the bookkeeping of a stream (fallback before the first byte, usage, ledger,
limits, health) once; a renderer only turns chunks into one API's events. Chat completions
pass chunks through as server-sent events; the Responses and Messages APIs translate them
(router/api/)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from adapters.chat_events import EventBlock, chunk_event, content_events
from adapters.errors import AdapterError
from adapters.openai_responses import DELTAS as FORWARDED_DELTAS
from adapters.openai_responses import EVENT as FORWARDED_EVENT


class StreamRenderer(Protocol):
    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """The bytes for one upstream chunk (b"" for none). Chunks carry the served model's
        catalog id in `model`; the last one may carry only `usage`."""
        ...

    async def end(self, usage: Mapping[str, Any]) -> bytes:
        """The closing bytes, once the ledger has the request. `usage` is the upstream's or,
        for a stream without it, the gateway's estimate."""
        ...

    def failed(self, exc: AdapterError) -> bytes:
        """The bytes that tell the client the upstream failed mid-stream."""
        ...


class ChatEvents:
    """OpenAI's chat.completion.chunk server-sent events, ended by [DONE]."""

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        return chunk_event(chunk, self.include_usage)

    async def end(self, usage: Mapping[str, Any]) -> bytes:
        return b"data: [DONE]\n\n"

    def failed(self, exc: AdapterError) -> bytes:
        failure = {
            "error": {
                "message": exc.message,
                "type": "upstream_error",
                "param": None,
                "code": exc.code,
            }
        }
        return b"data: " + json.dumps(failure).encode() + b"\n\n"


async def rendered(
    chunks: AsyncIterator[dict[str, Any]], renderer: StreamRenderer, model: str
) -> AsyncIterator[EventBlock]:
    """An adapter's chunks as blocks of this renderer's bytes, each naming the served model
    by its catalog id (adapters that relay whole events make their blocks themselves)."""
    async for chunk in chunks:
        chunk["model"] = model
        usage = chunk.get("usage") or None
        produced = content_events(chunk)
        if chunk.get(FORWARDED_EVENT, {}).get("type") in FORWARDED_DELTAS:
            produced += 1  # a Responses server's own text or arguments event
        yield EventBlock(renderer.chunk(chunk), usage, produced)
