"""The one interface every adapter implements, and the registry that names them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from adapters.chat_events import EventBlock
from adapters.schemas import ChatRequest


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    first_byte: float = 60.0  # until the upstream starts answering
    total: float = 600.0  # the whole answer, streamed or not


@dataclass(frozen=True)
class Target:
    """Where one deployment is reached; built by the router from the catalog."""

    kind: str  # "embedded", "local" or "hosted": the registry key
    served_name: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never in logs or errors
    max_context: int | None = None
    timeouts: Timeouts = Timeouts()


class Adapter(Protocol):
    """`chat` returns one OpenAI chat.completion; `stream` yields chat.completion.chunk
    dicts, the last of them carrying `usage`. Both raise only `adapters.errors` exceptions."""

    async def chat(self, request: ChatRequest) -> dict[str, Any]: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[dict[str, Any]]: ...


@runtime_checkable
class RelayingAdapter(Protocol):
    """An adapter whose upstream speaks OpenAI's chat events: a chat client can be sent its
    bytes as they are (adapters/chat_events.py) instead of chunks parsed and rendered again."""

    def relay(
        self, request: ChatRequest, public_model: str, include_usage: bool
    ) -> AsyncIterator[EventBlock]: ...
