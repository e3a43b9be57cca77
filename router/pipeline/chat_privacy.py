"""Privacy on the chat path: which texts a chat request carries, the request hosted
deployments get under `privacy: redact`, and the originals put back into their answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from adapters.schemas import ChatRequest
from catalog.terms import Privacy
from router.privacy.redact import Redaction, StreamRestorer
from router.routing.decision import Candidate


def chat_texts(body: ChatRequest) -> list[str]:
    """Every text the request carries, in the canonical request's order (`texts()`: message
    contents and text parts, refusals, tool-call arguments, tool results); findings and
    redaction refer to positions in this list."""
    return [text for _place, text in body.texts()]


def leaves_our_machines(candidate: Candidate) -> bool:
    return candidate.deployment.privacy is not Privacy.LOCAL


def _replace(request: ChatRequest, place: str, text: str) -> None:
    """Set the text at `place` (`messages.2.content.0.text`) in `request`, in place."""
    *path, last = place.split(".")
    target: Any = request
    for step in path:
        target = target[int(step)] if step.isdigit() else getattr(target, step)
    if last.isdigit():
        target[int(last)] = text
    else:
        setattr(target, last, text)


class RedactingPrepare:
    """The executor's `prepare`: placeholders for hosted deployments, the request as it
    came for local ones."""

    def __init__(self, redaction: Redaction) -> None:
        self.redaction = redaction
        self._redacted: ChatRequest | None = None

    def __call__(self, candidate: Candidate, request: ChatRequest) -> ChatRequest:
        if not leaves_our_machines(candidate):
            return request
        if self._redacted is None:
            copy = request.model_copy(deep=True)
            originals = list(request.texts())
            for (place, before), after in zip(originals, self.redaction.texts, strict=True):
                if after != before:
                    _replace(copy, place, after)
            self._redacted = copy
        return self._redacted


def restore_answer(answer: dict[str, Any], redaction: Redaction) -> None:
    """The originals back into a complete answer (content, refusal, tool-call arguments),
    in place."""
    for choice in answer.get("choices") or []:
        message = choice.get("message") or {}
        for name in ("content", "refusal"):
            if isinstance(message.get(name), str):
                message[name] = redaction.restore(message[name])
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            if isinstance(function.get("arguments"), str):
                function["arguments"] = redaction.restore(function["arguments"])


async def restore_stream(
    first: dict[str, Any], rest: AsyncIterator[dict[str, Any]], redaction: Redaction
) -> tuple[dict[str, Any], AsyncIterator[dict[str, Any]]]:
    """The stream with the originals back, in content and in tool-call arguments: a
    placeholder split over chunks is held until it is whole; what is held is released with
    the choice's last chunk."""
    content: dict[int, StreamRestorer] = {}
    arguments: dict[tuple[int, int], StreamRestorer] = {}

    def release(index: int, delta: dict[str, Any]) -> None:
        held = content.pop(index, None)
        if held is not None and (text := held.flush()):
            delta["content"] = (delta.get("content") or "") + text
        for (choice, call), restorer in list(arguments.items()):
            if choice == index and (text := restorer.flush()):
                calls = delta.setdefault("tool_calls", [])
                calls.append({"index": call, "function": {"arguments": text}})
                del arguments[(choice, call)]

    def restored(chunk: dict[str, Any]) -> dict[str, Any]:
        for choice in chunk.get("choices") or []:
            index = int(choice.get("index") or 0)
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                restorer = content.setdefault(index, redaction.stream())
                delta["content"] = restorer.feed(delta["content"])
            for call in delta.get("tool_calls") or []:
                function = call.get("function") or {}
                if isinstance(function.get("arguments"), str):
                    key = (index, int(call.get("index") or 0))
                    restorer = arguments.setdefault(key, redaction.stream())
                    function["arguments"] = restorer.feed(function["arguments"])
            if choice.get("finish_reason"):
                release(index, delta)
            choice["delta"] = delta
        return chunk

    async def following() -> AsyncIterator[dict[str, Any]]:
        try:
            async for chunk in rest:
                yield restored(chunk)
        finally:  # a client gone mid-stream closes this; the upstream's stream closes too
            close = getattr(rest, "aclose", None)
            if close is not None:
                await close()
        indexes = sorted({i for i in content} | {i for i, _ in arguments})
        tail = []
        for index in indexes:  # the upstream ended without a finish_reason
            delta: dict[str, Any] = {}
            release(index, delta)
            if delta:
                tail.append({"index": index, "delta": delta, "finish_reason": None})
        if tail:
            yield {"id": first.get("id"), "object": "chat.completion.chunk", "choices": tail}

    return restored(first), following()


async def restored(
    chunks: AsyncIterator[dict[str, Any]], redaction: Redaction
) -> AsyncIterator[dict[str, Any]]:
    """`restore_stream` over a stream not yet started."""
    first = await anext(chunks, None)
    if first is None:
        return
    head, rest = await restore_stream(first, chunks, redaction)
    yield head
    try:
        async for chunk in rest:
            yield chunk
    finally:  # restore_stream's tail closes the upstream's stream
        close = getattr(rest, "aclose", None)
        if close is not None:
            await close()
