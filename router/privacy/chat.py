"""Privacy on the chat path: which texts a chat request carries, the request hosted
deployments get under `privacy: redact`, and the originals put back into their answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from adapters.schemas import ChatRequest
from catalog.terms import Privacy
from router.decision import Candidate
from router.privacy.redact import Redaction, StreamRestorer
from router.schemas import ChatCompletionIn


def chat_texts(body: ChatCompletionIn) -> list[str]:
    """Every text the request carries, one per message, in order (the positions findings
    and redaction refer to)."""
    return [message.text() for message in body.messages]


def leaves_our_machines(candidate: Candidate) -> bool:
    return candidate.deployment.privacy is not Privacy.LOCAL


class RedactingPrepare:
    """The executor's `prepare`: placeholders for hosted deployments, the request as it
    came for local ones. Remembers whether the one that answered got placeholders."""

    def __init__(self, redaction: Redaction) -> None:
        self.redaction = redaction

    def __call__(self, candidate: Candidate, request: ChatRequest) -> ChatRequest:
        if not leaves_our_machines(candidate):
            return request
        messages = [
            message.model_copy(update={"content": text})
            for message, text in zip(request.messages, self.redaction.texts, strict=True)
        ]
        return request.model_copy(update={"messages": messages})


def restore_answer(answer: dict[str, Any], redaction: Redaction) -> None:
    """The originals back into a complete answer's messages, in place."""
    for choice in answer.get("choices") or []:
        message = choice.get("message") or {}
        if isinstance(message.get("content"), str):
            message["content"] = redaction.restore(message["content"])


async def restore_stream(
    first: dict[str, Any], rest: AsyncIterator[dict[str, Any]], redaction: Redaction
) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]]]:
    """The stream with the originals back: a placeholder split over chunks is held until it
    is whole; what is held is released with the choice's last chunk."""
    restorers: dict[int, StreamRestorer] = {}

    def restored(chunk: dict[str, Any]) -> dict[str, Any]:
        for choice in chunk.get("choices") or []:
            restorer = restorers.setdefault(int(choice.get("index") or 0), redaction.stream())
            delta = choice.get("delta") or {}
            content = delta.get("content")
            text = restorer.feed(content) if isinstance(content, str) else None
            if choice.get("finish_reason"):
                text = (text or "") + restorer.flush()
            if text is not None:
                delta["content"] = text
                choice["delta"] = delta
        return chunk

    async def following() -> AsyncIterator[dict[str, Any]]:
        async for chunk in rest:
            yield restored(chunk)
        held = {i: r.flush() for i, r in restorers.items()}
        tail = [
            {"index": i, "delta": {"content": text}, "finish_reason": None}
            for i, text in held.items()
            if text
        ]
        if tail:  # the upstream ended without a finish_reason: release what was held
            yield {"id": first.get("id"), "object": "chat.completion.chunk", "choices": tail}

    return restored(first), following()
