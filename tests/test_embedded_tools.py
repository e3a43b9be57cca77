"""Tool calls from the embedded SmolLM2 (real llama.cpp, grammar-constrained decoding): through
its adapter, and on a fresh install through the real openai and openai-agents SDKs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openai import OpenAI

from adapters.base import Target
from adapters.embedded import EmbeddedAdapter
from adapters.embedded_tools import AnswerReader, grammar_text
from adapters.errors import UnsupportedParameter
from adapters.schemas import ChatRequest
from tests.conftest import SMOLLM2, prepare_database, start_gateway
from tests.servers import ServerProcess

WEATHER_ARGS = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": WEATHER_ARGS,
    },
}
# Nested objects, arrays, integers and a $ref: the grammar is built from all of it.
BOOKING_ARGS = {
    "type": "object",
    "$defs": {
        "guest": {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
        }
    },
    "properties": {
        "nights": {"type": "integer"},
        "guests": {"type": "array", "items": {"$ref": "#/$defs/guest"}, "minItems": 1},
    },
    "required": ["nights", "guests"],
}
BOOKING = {
    "type": "function",
    "function": {
        "name": "book_room",
        "description": "Book a hotel room",
        "parameters": BOOKING_ARGS,
    },
}
SCHEMAS = {"get_weather": WEATHER_ARGS, "book_room": BOOKING_ARGS}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def assert_valid_calls(calls: list[dict[str, Any]]) -> None:
    assert calls, "no tool call"
    for call in calls:
        assert call["type"] == "function" and call["id"].startswith("call_")
        arguments = json.loads(call["function"]["arguments"])
        jsonschema.validate(arguments, SCHEMAS[call["function"]["name"]])


# --- the adapter ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adapter() -> EmbeddedAdapter:
    return EmbeddedAdapter(Target(kind="embedded", served_name=SMOLLM2, max_context=8192))


def chat(adapter: EmbeddedAdapter, **body: Any) -> dict[str, Any]:
    request = ChatRequest.model_validate({"temperature": 0, "max_tokens": 60, **body})
    return asyncio.run(adapter.chat(request))


@pytest.mark.parametrize(
    ("tool_choice", "named"),
    [
        ("required", None),
        ({"type": "function", "function": {"name": "book_room"}}, "book_room"),
        ({"type": "function", "function": {"name": "get_weather"}}, "get_weather"),
    ],
)
def test_tool_choice_makes_schema_valid_calls(
    adapter: EmbeddedAdapter, tool_choice: Any, named: str | None
) -> None:
    answer = chat(
        adapter,
        messages=[{"role": "user", "content": "Book a room for Ada and Bob, 2 nights."}],
        tools=[WEATHER, BOOKING],
        tool_choice=tool_choice,
    )
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert_valid_calls(calls)
    assert len(calls) == 1  # parallel_tool_calls was not asked for
    if named:
        assert calls[0]["function"]["name"] == named


def test_tool_choice_none_answers_in_words(adapter: EmbeddedAdapter) -> None:
    answer = chat(adapter, messages=ASK, tools=[WEATHER], tool_choice="none", max_tokens=20)
    message = answer["choices"][0]["message"]
    assert "tool_calls" not in message
    assert message["content"] and not message["content"].startswith("message:")


@pytest.mark.parametrize(
    "schema",
    [
        # llama-cpp-python's converter writes a grammar llama.cpp cannot parse for this name;
        # unchecked, generation would start with a NULL sampler and crash the process.
        {"type": "object", "properties": {'a"b\nc': {"type": "string"}}, "required": ['a"b\nc']},
        {"type": "object", "properties": {"x": {"type": "string", "pattern": "^(?=a)b$"}}},
        {"not": {"type": "string"}},
    ],
    ids=["unparsable grammar", "lookahead pattern", "not"],
)
def test_a_schema_it_cannot_decode_under_is_refused_by_name(
    adapter: EmbeddedAdapter, schema: dict[str, Any]
) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    with pytest.raises(UnsupportedParameter) as refused:
        chat(adapter, messages=ASK, tools=[tool], tool_choice="required")
    assert refused.value.param == "tools" and refused.value.retryable  # another may serve it
    # The model is still there for the next request.
    assert chat(adapter, messages=ASK, max_tokens=3)["usage"]["completion_tokens"] > 0


def test_the_grammar_offers_what_tool_choice_allows() -> None:
    def grammar(**body: Any) -> list[str]:
        return grammar_text(ChatRequest.model_validate({"messages": ASK, **body})).splitlines()

    auto = grammar(tools=[WEATHER, BOOKING])
    assert "root ::= tool-message | tool-calls" in auto
    assert "tool-calls ::= tool-call" in auto  # one call unless parallel calls are asked for
    required = grammar(tools=[WEATHER, BOOKING], tool_choice="required", parallel_tool_calls=True)
    assert "root ::= tool-calls" in required and "tool-message" not in "".join(required)
    assert 'tool-calls ::= tool-call ("\\n" tool-call)*' in required
    named = grammar(
        tools=[WEATHER, BOOKING],
        tool_choice={"type": "function", "function": {"name": "book_room"}},
    )
    assert "tool-call ::= tool-call-1" in named
    # A raw control character inside a JSON string is not JSON: the string rule excludes it.
    assert any(line.startswith("char ::=") and "\\x00-\\x1F" in line for line in auto)


def test_streamed_deltas_assemble_to_the_same_call(adapter: EmbeddedAdapter) -> None:
    body = {"messages": ASK, "tools": [WEATHER], "tool_choice": "required", "seed": 7}
    whole = chat(adapter, **body)["choices"][0]["message"]["tool_calls"]
    request = ChatRequest.model_validate({"temperature": 0, "max_tokens": 60, **body})

    async def collect() -> list[dict[str, Any]]:
        return [c async for c in adapter.stream(request)]

    chunks = asyncio.run(collect())
    deltas = [
        d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    first, rest = deltas[0], deltas[1:]
    assert first["index"] == 0 and first["type"] == "function" and first["id"].startswith("call_")
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert rest and all(
        set(d) == {"index", "function"} and set(d["function"]) == {"arguments"} for d in rest
    )
    arguments = "".join(d["function"]["arguments"] for d in rest)
    assert arguments == whole[0]["function"]["arguments"]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "tool_calls" and all(f is None for f in finishes[:-1])
    assert "usage" in chunks[-1]


def test_a_tool_result_in_the_conversation_is_read(adapter: EmbeddedAdapter) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
    }
    messages = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees and sunny"},
    ]
    answer = chat(adapter, messages=messages, tools=[WEATHER], max_tokens=30)
    message = answer["choices"][0]["message"]
    # auto: a message or a call, either well formed
    if message.get("tool_calls"):
        assert_valid_calls(message["tool_calls"])
    else:
        assert message["content"]


def test_the_reader_gives_the_same_answer_however_the_text_is_cut() -> None:
    text = (
        'functions.get_weather:\n{"city": "a\\"}{b", "unit": "celsius"} \n'
        'functions.book_room:\n{"nights": 2, "guests": [{"name": "x"}]}'
    )
    whole = AnswerReader()
    whole.feed(text)
    assert [(c.name, json.loads(c.arguments)) for c in whole.calls] == [
        ("get_weather", {"city": 'a"}{b', "unit": "celsius"}),
        ("book_room", {"nights": 2, "guests": [{"name": "x"}]}),
    ]
    for size in (1, 2, 5):
        piecewise = AnswerReader()
        deltas = [piecewise.feed(text[i : i + size]) for i in range(0, len(text), size)]
        assert [c.arguments for c in piecewise.calls] == [c.arguments for c in whole.calls]
        pieces = [d for delta in deltas for d in delta.tool_calls if "id" not in d]
        assert "".join(p["function"]["arguments"] for p in pieces if p["index"] == 1) == (
            whole.calls[1].arguments
        )
    message = AnswerReader()
    message.feed("mess")
    assert message.content is None
    assert message.feed("age:\nHello\nthere").content == "Hello\nthere"
    assert message.content == "Hello\nthere" and message.calls == []


# --- a fresh install through real SDKs -----------------------------------------------------------


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    folder: Path = tmp_path_factory.mktemp("fresh-tools")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    secrets = prepare_database(url, folder, [], {"app": {}})
    server = start_gateway(folder, {"MODELYARD_DATABASE_URL": url})
    yield server, secrets["app"]
    server.stop()


def test_openai_sdk_tools_request_on_a_fresh_install(fresh: tuple[ServerProcess, str]) -> None:
    server, key = fresh
    client = OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=ASK,
        tools=[WEATHER],
        temperature=0,
        seed=3,
        max_tokens=60,  # type: ignore[list-item]
    )
    assert raw.headers["x-modelyard-deployment"] == "embedded/smollm2-135m-instruct"
    answer = raw.parse()
    assert answer.choices[0].finish_reason == "tool_calls"
    calls = [c.model_dump() for c in answer.choices[0].message.tool_calls or []]
    assert_valid_calls(calls)

    # The same request streamed: the SDK's stream helper assembles the deltas to the same call.
    with client.chat.completions.stream(
        model="auto",
        messages=ASK,
        tools=[WEATHER],
        temperature=0,
        seed=3,
        max_tokens=60,  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_completion()
    streamed = final.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in streamed] == [
        (c["function"]["name"], c["function"]["arguments"]) for c in calls
    ]


def test_openai_agents_sdk_runs_a_tool_on_a_fresh_install(
    fresh: tuple[ServerProcess, str],
) -> None:
    from agents import (
        Agent,
        ModelSettings,
        OpenAIChatCompletionsModel,
        Runner,
        function_tool,
        set_tracing_disabled,
    )
    from openai import AsyncOpenAI

    server, key = fresh
    set_tracing_disabled(True)
    seen: list[tuple[str, str]] = []

    @function_tool
    def get_weather(city: str, unit: str) -> str:
        """Current weather in a city."""
        seen.append((city, unit))
        return f"18 {unit} in {city}"

    agent = Agent(
        name="weather",
        instructions="Answer questions about the weather.",
        model="auto",
        model_settings=ModelSettings(tool_choice="required", temperature=0, max_tokens=60),
        tools=[get_weather],
        tool_use_behavior="stop_on_first_tool",
    )

    async def run() -> Any:
        # The client is made and closed on this loop: left open, it would be closed later on
        # another test's loop.
        async with AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0) as c:
            agent.model = OpenAIChatCompletionsModel(model="auto", openai_client=c)
            return await Runner.run(agent, "What is the weather in Paris?", max_turns=2)

    result = asyncio.run(run())
    assert len(seen) == 1
    city, unit = seen[0]
    assert result.final_output == f"18 {unit} in {city}"
