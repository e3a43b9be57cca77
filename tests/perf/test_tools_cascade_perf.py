"""Tool calls on the embedded model and the cascade's checks, against references in the same
run. `make bench`; prints, asserts nothing.

- Embedded tool calls: seconds per call through EmbeddedAdapter (one grammar per request,
  adapters/embedded_tools.py) vs llama-cpp-python's own "chatml-function-calling" handler on
  the same GGUF, both with a named tool_choice (the handler's one-pass path), greedy decoding
  and the prompt read whole each time; and the adapter's tokens per second with and without
  tools.
- The cascade's check of one answer (JSON schema, tool arguments) vs validating the request
  it answers (ChatRequest.model_validate, which every request pays already).
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import pytest

from adapters.base import Target
from adapters.embedded import EmbeddedAdapter, locate_gguf
from adapters.schemas import ChatRequest
from router.pipeline.cascade import check
from tests.conftest import SMOLLM2

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

ROUNDS = 5
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}
# With a system turn: the handler lists the tools only inside one (without it, its model is
# never shown them, and its shorter prompt is what the comparison would measure).
MESSAGES: list[Any] = [
    {"role": "system", "content": "You answer questions about the weather."},
    {"role": "user", "content": "What is the weather in Paris?"},
]
NAMED = {"type": "function", "function": {"name": "get_weather"}}


async def test_embedded_tool_calls_vs_the_llama_cpp_handler() -> None:
    from llama_cpp import Llama

    adapter = EmbeddedAdapter(Target(kind="embedded", served_name=SMOLLM2, max_context=8192))
    handler = Llama(
        model_path=str(locate_gguf(SMOLLM2)),
        n_ctx=8192,
        chat_format="chatml-function-calling",
        verbose=False,
    )
    request = ChatRequest(
        messages=MESSAGES, tools=[WEATHER], tool_choice=NAMED, max_tokens=60, temperature=0
    )
    plain = ChatRequest(messages=MESSAGES, max_tokens=60, temperature=0)
    await adapter.chat(request)  # load the model and build the grammar before timing
    ours, theirs, with_grammar, without = [], [], [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        answer = await adapter.chat(request)
        took = time.perf_counter() - start
        ours.append(took)
        with_grammar.append(answer["usage"]["completion_tokens"] / took)
        # The adapter reads every prompt whole (seeded answers must repeat); the handler would
        # reuse the cached prompt from the round before, which measures the cache instead.
        handler.reset()
        start = time.perf_counter()
        direct: Any = handler.create_chat_completion(
            MESSAGES, tools=[WEATHER], tool_choice=NAMED, max_tokens=60, temperature=0
        )
        theirs.append(time.perf_counter() - start)
        start = time.perf_counter()
        free = await adapter.chat(plain)
        without.append(free["usage"]["completion_tokens"] / (time.perf_counter() - start))
    call = answer["choices"][0]["message"]["tool_calls"][0]["function"]
    their_call = direct["choices"][0]["message"]["tool_calls"][0]["function"]
    print(
        f"\nembedded tool call (named, greedy), median of {ROUNDS}: adapter "
        f"{statistics.median(ours):.2f} s ({answer['usage']['prompt_tokens']} prompt tokens) "
        f"{call['arguments']}; llama-cpp-python handler {statistics.median(theirs):.2f} s "
        f"({direct['usage']['prompt_tokens']} prompt tokens) {their_call['arguments']}"
        f"\nadapter completion tokens per second of the whole call (prompt read included): "
        f"with tools {statistics.median(with_grammar):.0f}, plain text "
        f"({free['usage']['prompt_tokens']} prompt tokens) {statistics.median(without):.0f}"
    )


def test_cascade_check_vs_request_validation() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    body = {
        "messages": MESSAGES,
        "tools": [WEATHER],
        "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
    }
    request = ChatRequest.model_validate(body)
    arguments = json.dumps({"city": "Paris", "unit": "celsius"})
    calls = [
        {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
    ]
    answers = {
        "tool call": {"choices": [{"message": {"content": None, "tool_calls": calls}}]},
        "JSON answer": {"choices": [{"message": {"content": '{"name": "Ada", "age": 36}'}}]},
    }
    count = 20_000
    start = time.perf_counter()
    for _ in range(count):
        ChatRequest.model_validate(body)
    validating = (time.perf_counter() - start) / count
    lines = [f"\nvalidating the request: {validating * 1e6:.1f} µs"]
    for label, answer in answers.items():
        assert check(request, answer, 0.0).passed
        start = time.perf_counter()
        for _ in range(count):
            check(request, answer, 0.0)
        each = (time.perf_counter() - start) / count
        lines.append(f"cascade check of a {label}: {each * 1e6:.1f} µs ({each / validating:.0%})")
    print("\n".join(lines))
