"""The chat event relay (adapters/chat_events.py): an upstream's stream reaches the client
as the bytes it sent, only the model renamed — and exactly as the gateway renders parsed
chunks wherever an event has to be read."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest

from adapters.chat_events import FIRST_BLOCK_BYTES, ChatEventRelay, EventBlock, chunk_event
from adapters.errors import MalformedResponse, UpstreamServerError, UpstreamUnavailable

PUBLIC = "mistralai/Mistral-7B-Instruct-v0.2"


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "bench",
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def events(chunks: list[dict[str, Any]], compact: bool = False, done: bool = True) -> bytes:
    separators = (",", ":") if compact else (", ", ": ")
    text = "".join(f"data: {json.dumps(c, separators=separators)}\n\n" for c in chunks)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


def stream(words: int = 5, usage: bool = True) -> list[dict[str, Any]]:
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": f"w{i} "}) for i in range(words)]
    out.append(chunk({}, "stop"))
    if usage:
        tail = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "bench"}
        counts = {"prompt_tokens": 3, "completion_tokens": words, "total_tokens": words + 3}
        out.append({**tail, "choices": [], "usage": counts})
    return out


def relay_all(
    raw: bytes, reads: list[int] | None = None, include_usage: bool = False, served: str = "bench"
) -> tuple[list[EventBlock], ChatEventRelay]:
    relay = ChatEventRelay(served, PUBLIC, include_usage, prompt_chars=12)
    cuts = [0, *(reads or []), len(raw)]
    blocks = [b for a, z in itertools.pairwise(cuts) for b in relay.feed(raw[a:z])]
    return blocks + list(relay.finish()), relay


def rendered(chunks: list[dict[str, Any]], include_usage: bool) -> bytes:
    """What the gateway sends for these chunks when it parses every one."""
    out = b""
    for c in json.loads(json.dumps(chunks)):
        c["model"] = PUBLIC
        out += chunk_event(c, include_usage)
    return out


@pytest.mark.parametrize("include_usage", [False, True])
def test_a_relayed_stream_is_what_parsing_every_chunk_would_send(include_usage: bool) -> None:
    chunks = stream()
    blocks, _ = relay_all(events(chunks), include_usage=include_usage)
    assert b"".join(b.data for b in blocks) == rendered(chunks, include_usage)
    assert [b.usage for b in blocks if b.usage] == [chunks[-1]["usage"]]


def test_only_the_model_name_changes_in_relayed_bytes() -> None:
    chunks = stream(usage=False)[:-1]  # no finish: every event is relayed as sent
    raw = events(chunks, done=False)
    relay = ChatEventRelay("bench", PUBLIC, False, 12)
    (block,) = list(relay.feed(raw))
    assert block.data == raw.replace(b'"model": "bench"', f'"model": "{PUBLIC}"'.encode())
    assert block.content_events == len(chunks)  # one token per event: an estimate


@pytest.mark.parametrize("public", ["bench", "bunch", "b", "a-much-longer-catalog-id/model"])
def test_any_pair_of_names_is_renamed_in_every_event(public: str) -> None:
    chunks = stream(usage=False)[:-1]
    raw = events(chunks, done=False)
    (block,) = list(ChatEventRelay("bench", public, False, 12).feed(raw))
    assert block.data.count(f'"model": "{public}"'.encode()) == len(chunks)


def test_compact_json_is_relayed_too() -> None:
    raw = events(stream(usage=False)[:-1], compact=True, done=False)
    (block,) = list(ChatEventRelay("bench", PUBLIC, False, 12).feed(raw))
    assert block.data == raw.replace(b'"model":"bench"', f'"model":"{PUBLIC}"'.encode())


@pytest.mark.parametrize("usage", [True, False])
def test_only_the_usage_event_and_the_end_of_a_whole_stream_are_read(usage: bool) -> None:
    # Compact JSON shows which path an event took: a read event is rendered with spaces.
    chunks = stream(words=50, usage=usage)
    raw = events(chunks, compact=True)
    blocks, _ = relay_all(raw)
    # The client did not ask for usage: what it gets is every other event, as sent.
    kept = events(chunks[:-1] if usage else chunks, compact=True, done=False)
    assert b"".join(b.data for b in blocks) == kept.replace(
        b'"model":"bench"', f'"model":"{PUBLIC}"'.encode()
    )
    assert sum(b.content_events for b in blocks) == (len(chunks) - 1 if usage else len(chunks))


def test_events_split_anywhere_across_reads_arrive_whole_and_unchanged() -> None:
    chunks = stream(words=40)
    raw = events(chunks)
    whole = b"".join(b.data for b in relay_all(raw)[0])
    shuffle = random.Random(7)
    for _ in range(20):
        reads = sorted(shuffle.sample(range(1, len(raw)), 12))
        blocks, _ = relay_all(raw, reads)
        assert b"".join(b.data for b in blocks) == whole
        assert all(b.data.endswith(b"\n\n") for b in blocks if b.data)


def test_crlf_line_ends_are_read_like_lf_ones() -> None:
    chunks = stream()
    raw = events(chunks).replace(b"\n", b"\r\n")
    middle = raw.index(b"\r\n\r\n") + 3  # a read that ends between \r and \n
    blocks, _ = relay_all(raw, [middle, middle + 40])
    assert b"".join(b.data for b in blocks) == rendered(chunks, False)


def test_cr_only_line_ends_split_after_a_cr_are_read_like_lf_ones() -> None:
    chunks = stream()
    raw = events(chunks).replace(b"\n", b"\r")
    after_cr = [i + 1 for i in range(len(raw)) if raw[i : i + 1] == b"\r"][::3]
    blocks, _ = relay_all(raw, after_cr)
    assert b"".join(b.data for b in blocks) == rendered(chunks, False)


def test_a_large_first_read_sends_the_first_events_ahead() -> None:
    raw = events(stream(words=2000))
    blocks, _ = relay_all(raw)
    assert FIRST_BLOCK_BYTES // 2 < len(blocks[0].data) < 2 * FIRST_BLOCK_BYTES < len(raw) // 10
    assert b"".join(b.data for b in blocks) == rendered(stream(words=2000), False)


def test_an_upstream_naming_itself_otherwise_still_shows_the_catalog_id() -> None:
    other = [dict(c, model="bench-q4_k_m") for c in stream()]
    blocks, _ = relay_all(events(other))
    assert b"".join(b.data for b in blocks) == rendered(other, False)


def test_comments_and_named_events_are_read_not_relayed() -> None:
    chunks = stream()
    raw = events(chunks[:2], done=False) + b": keep-alive\n\n" + events(chunks[2:])
    blocks, _ = relay_all(raw)
    assert b"".join(b.data for b in blocks) == rendered(chunks, False)


def test_an_upstream_without_usage_gets_an_estimate_marked_so() -> None:
    chunks = stream(words=4, usage=False)
    blocks, relay = relay_all(events(chunks), include_usage=True)
    final = json.loads(blocks[-1].data[len(b"data: ") :])
    assert final["usage"]["estimated"] is True
    assert final["usage"]["completion_tokens"] == relay.produced == len(chunks)
    assert final["usage"]["prompt_tokens"] == 3  # 12 characters
    assert final["id"] == "chatcmpl-1" and final["model"] == PUBLIC
    assert blocks[-1].usage == final["usage"]


def test_an_estimated_usage_is_not_shown_to_a_client_that_did_not_ask() -> None:
    blocks, _ = relay_all(events(stream(usage=False)))
    assert blocks[-1].data == b"" and blocks[-1].usage is not None


def test_an_error_event_mid_stream_is_an_upstream_failure() -> None:
    raw = events(stream()[:3], done=False) + b'data: {"error": {"message": "out of memory"}}\n\n'
    with pytest.raises(UpstreamServerError, match="out of memory"):
        relay_all(raw)


def test_a_stream_that_ends_without_done_is_cut() -> None:
    with pytest.raises(UpstreamUnavailable, match="before \\[DONE\\]"):
        relay_all(events(stream(), done=False))


def test_an_event_that_is_not_json_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        relay_all(events(stream()[:2], done=False) + b"data: {not json\n\n")


def test_nothing_after_done_reaches_the_client() -> None:
    raw = events(stream()) + events([chunk({"content": "late"})])
    blocks, _ = relay_all(raw)
    assert b"late" not in b"".join(b.data for b in blocks)


def test_a_read_that_starts_with_the_usage_event_reads_it_whole() -> None:
    chunks = stream()
    raw = events(chunks, compact=True)
    at = raw.index(b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"bench"')
    blocks, _ = relay_all(raw, [at], include_usage=True)
    assert blocks[-1].usage == chunks[-1]["usage"]
    assert blocks[-1].data == chunk_event(dict(chunks[-1], model=PUBLIC), True)
