"""chat.completion.chunk server-sent events on the wire, and a relay that passes an
OpenAI-compatible upstream's events to the client as the bytes it sent.

Re-serialising every chunk cost the gateway 97% of a fast upstream's chunk rate (one JSON
parse, one dump and one socket write per chunk). The relay instead forwards whatever whole
events arrived in one read as one block: the only change made to the bytes is the model
name, which becomes the catalog id the router chose. An event the relay must understand
(usage, an error, the end, anything not a one-line `data: {...}` event) is parsed and
rendered the way the gateway always rendered chunks, so the client sees the same events
either way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from adapters.errors import MalformedResponse, UpstreamServerError, UpstreamUnavailable
from adapters.schemas import usage as usage_of

# The event that needs reading although it names the model: the usage one (kept for the
# ledger, dropped unless the client asked for it). An error event or the end ([DONE]) names no
# model, so the relay's count of renamed events sends them to be read as well.
_USAGE = b'"usage"'
_DONE = b"data: [DONE]\n\n"
# The first block of a stream is at most about this long: the first token's latency should not
# grow with how much the upstream already had ready.
FIRST_BLOCK_BYTES = 8192


@dataclass(frozen=True, slots=True)
class EventBlock:
    """Whole events for the client (`data`, possibly empty), with what the gateway's
    bookkeeping needs from them: the upstream's usage if one came, and how many content or
    tool-call deltas they carried (the price of a stream cut short, the speed measure)."""

    data: bytes
    usage: dict[str, Any] | None = None
    content_events: int = 0


def chunk_event(chunk: dict[str, Any], include_usage: bool) -> bytes:
    """One chunk as OpenAI sends it: usage only to a client that asked for it (the gateway
    always asks the upstream, for the ledger)."""
    if chunk.get("choices"):
        if not include_usage:
            chunk.pop("usage", None)
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"
    if include_usage:
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"
    return b""


def content_events(chunk: dict[str, Any]) -> int:
    """Choices in this chunk whose delta carries content or tool calls."""
    return sum(
        1
        for choice in chunk.get("choices") or ()
        if isinstance(choice, dict)
        and ((delta := choice.get("delta") or {}).get("content") or delta.get("tool_calls"))
    )


def error_message(payload: bytes) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")[:500] or "(empty body)"
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500]
    return str(error)[:500]


def parse_event(payload: bytes) -> dict[str, Any]:
    """One `data:` payload of a chat stream as its chunk; an upstream's error event is its
    failure mid-answer."""
    try:
        chunk = json.loads(payload)
    except ValueError as exc:
        raise MalformedResponse(
            f"upstream sent an event that is not JSON: {payload[:200]!r}"
        ) from exc
    if not isinstance(chunk, dict):
        raise MalformedResponse("upstream sent an event that is not an object")
    if "error" in chunk:
        raise UpstreamServerError(f"upstream failed mid-answer: {error_message(payload)}")
    return chunk


def estimated_usage(
    last_id: str, model: str, prompt_chars: int, completion_events: int
) -> dict[str, Any]:
    """The usage chunk for servers that do not send one in streams (llama.cpp's server, older
    vLLM): one content event per generated token, and about four characters per prompt
    token. Such a usage is marked `estimated`."""
    prompt = max(1, -(-prompt_chars // 4))
    return {
        "id": last_id,
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [],
        "usage": {**usage_of(prompt, completion_events), "estimated": True},
    }


class ChatEventRelay:
    """Turns the bytes an upstream streams into EventBlocks, one per read that completed at
    least one event; then `finish()`, once the upstream's body ends."""

    def __init__(
        self, served_name: str, public_model: str, include_usage: bool, prompt_chars: int
    ) -> None:
        served, public = json.dumps(served_name).encode(), json.dumps(public_model).encode()
        # The two spellings servers use (compact, and Python's default separators). Quotes
        # inside JSON strings are escaped, so these bytes only ever match a real `model` key.
        self.rewrites = [(b'"model":' + served, b'"model":' + public)]
        self.rewrites.append((b'"model": ' + served, b'"model": ' + public))
        self.rewrite: tuple[bytes, bytes] | None = None  # the spelling this upstream uses
        self.public_model = public_model
        self.include_usage = include_usage
        self.prompt_chars = prompt_chars
        self.pending = b""
        self.started = False  # a first block went out
        self.done = False
        self.usage_seen = False
        self.produced = 0
        self.last_event = b""

    def feed(self, data: bytes) -> Iterator[EventBlock]:
        """The blocks of whole events completed by `data` (none while an event is partial):
        one, except that the stream's first events go ahead of a large read on their own, so
        the first token does not wait for the rest of the read to be relayed."""
        if self.done:
            return  # whatever follows [DONE] is not for the client
        buffer = self.pending + data if self.pending else data
        carry = b""  # a \r at the very end may be half of a \r\n: kept for the next read
        if b"\r" in buffer:
            if buffer.endswith(b"\r"):
                carry, buffer = b"\r", buffer[:-1]
            # SSE allows \r\n and \r line ends.
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self.pending = buffer + carry
            return
        whole, self.pending = buffer[: end + 2], buffer[end + 2 :] + carry
        if not self.started and len(whole) > FIRST_BLOCK_BYTES:
            cut = whole.find(b"\n\n", FIRST_BLOCK_BYTES // 2) + 2
            head, whole = whole[:cut], whole[cut:]
            self.started = True
            yield self._block(head)
            if self.done:
                return
        self.started = True
        if whole:
            yield self._block(whole)

    def finish(self) -> Iterator[EventBlock]:
        """At the end of the upstream's body: the events a final \r line end completes; an
        error if the upstream never said [DONE]; for an upstream that sends no usage, an
        estimated one (see `estimated_usage`)."""
        if self.pending.endswith(b"\r") and not self.done:
            yield from self.feed(b"\n")  # the body's last line end: \r alone is one too
        if not self.done:
            raise UpstreamUnavailable("upstream ended the stream before [DONE]")
        if not self.usage_seen:
            chunk = self.estimated_usage()
            yield EventBlock(chunk_event(chunk, self.include_usage), chunk["usage"])

    def estimated_usage(self) -> dict[str, Any]:
        last_id = ""
        if self.last_event.startswith(b"data:"):
            try:
                last_id = str(json.loads(self.last_event[5:]).get("id", ""))
            except (ValueError, AttributeError):
                last_id = ""
        return estimated_usage(last_id, self.public_model, self.prompt_chars, self.produced)

    def _block(self, whole: bytes) -> EventBlock:
        """Relayed up to the first event that needs reading; read from there on."""
        start = _first_to_read(whole)
        head, tail = whole[:start], whole[start:]
        parts: list[EventBlock] = []
        if head:
            parts.append(self._relayed(head) or self._read(head))
        if tail:
            parts.append(self._read(tail))
        if len(parts) == 1:
            return parts[0]
        first, second = parts
        return EventBlock(
            first.data + second.data, second.usage, first.content_events + second.content_events
        )

    def _relayed(self, events: bytes) -> EventBlock | None:
        """The events as sent, model renamed, if each is one line naming the served model
        once; None when they need reading. Every pass over the bytes costs about as much as
        the client spends reading them, so this makes two (count the line ends, rename)
        besides `_first_to_read`'s one."""
        if not events.startswith(b"data:"):
            return None
        # Two line ends per one-line event: one byte is cheaper to count than two.
        lines = events.count(b"\n")
        if self.rewrite is None:
            first = events[: events.find(b"\n\n")]
            self.rewrite = next((r for r in self.rewrites if r[0] in first), self.rewrites[0])
        old, new = self.rewrite
        if len(old) == len(new):  # the length change cannot tell how many were renamed
            renamed = events.count(old)
            events = events.replace(old, new)
        else:  # one pass fewer: the length change says how many were renamed
            before = len(events)
            events = events.replace(old, new)
            renamed = (len(events) - before) // (len(new) - len(old))
        if 2 * renamed != lines:
            # An event without the served name (a comment, another model, an error, the
            # end) or spread over several lines.
            return None
        count = renamed
        self.last_event = _last_event(events)
        # One token per event: what llama.cpp-style servers send, and close enough to price
        # a stream cut short or one the upstream never counted (marked `estimated`).
        self.produced += count
        return EventBlock(events, None, count)

    def _read(self, events: bytes) -> EventBlock:
        """Events parsed and rendered one by one, as the gateway renders any chunk."""
        out: list[bytes] = []
        found: dict[str, Any] | None = None
        produced = 0
        for line in events.split(b"\n"):
            if not line.startswith(b"data:"):
                continue  # blank separators, comments and event names
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                break
            chunk = parse_event(payload)
            self.last_event = line
            chunk["model"] = self.public_model
            if chunk.get("usage"):
                found = chunk["usage"]
                self.usage_seen = True
            counted = content_events(chunk)
            produced += counted
            out.append(chunk_event(chunk, self.include_usage))
        self.produced += produced
        return EventBlock(b"".join(out), found, produced)


def _first_to_read(events: bytes) -> int:
    """Where the events that must be read begin in a block of whole events (its length when
    none must): the first usage event, else a final [DONE]. `rfind` first, because searching
    from the end is twice as fast here and most blocks hold no usage at all."""
    if events.rfind(_USAGE) >= 0:
        start = events.rfind(b"\n\n", 0, events.find(_USAGE))
        return 0 if start < 0 else start + 2
    done = len(events) - len(_DONE)
    if events.endswith(_DONE) and (done == 0 or events.endswith(b"\n\n", 0, done)):
        return done
    return len(events)


def _last_event(events: bytes) -> bytes:
    start = events.rfind(b"\n\n", 0, len(events) - 2)
    return events[start + 2 if start >= 0 else 0 :].strip()
