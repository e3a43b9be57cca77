"""Everything an OpenAI client sends to /v1/chat/completions, end to end: tools and tool
results, structured output, several choices, logprobs, penalties, newer and unknown fields.

A real modelyard process routes to the fault upstream's `agent` model (a recording
OpenAI-compatible upstream: tests/agent_upstream.py), so each test sees exactly what was
forwarded and what came back; the clients are the real openai SDK and LangChain's ChatOpenAI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel, Field

from tests.conftest import prepare_database, start_gateway
from tests.servers import ServerProcess

AGENT_MODEL = "mistralai/Mistral-7B-Instruct-v0.2"  # served by the agent, every capability
PLAIN_MODEL = "microsoft/phi-2"  # served by the same agent, declaring no capability
ALL = "tools,parallel_tools,tool_choice,json_mode,json_schema,vision,logprobs,n"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}


@dataclass
class Surface:
    server: ServerProcess
    upstream: ServerProcess
    key: str

    def client(self) -> OpenAI:
        return OpenAI(base_url=f"{self.server.base_url}/v1", api_key=self.key, max_retries=0)

    def post(self, body: dict[str, Any], path: str = "/v1/chat/completions") -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.post(self.server.base_url + path, json=body, headers=headers, timeout=60)

    def recorded(self) -> list[dict[str, Any]]:
        return [r["body"] for r in httpx.get(self.upstream.base_url + "/recorded").json()]

    def forget(self) -> None:
        httpx.delete(self.upstream.base_url + "/recorded")


@pytest.fixture(scope="module")
def surface(
    tmp_path_factory: pytest.TempPathFactory, fault_upstream: ServerProcess
) -> Iterator[Surface]:
    folder: Path = tmp_path_factory.mktemp("surface")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    upstream = f"{fault_upstream.base_url}/v1"
    agent = {"base_url": upstream, "served_name": "agent"}
    secrets = prepare_database(
        url,
        folder,
        [
            {"name": "test/agent", "model": AGENT_MODEL, "capabilities": ALL.split(","), **agent},
            {"name": "test/agent-plain", "model": PLAIN_MODEL, **agent},
        ],
        {"app": {}},
    )
    server = start_gateway(folder, {"MODELYARD_DATABASE_URL": url})
    yield Surface(server, fault_upstream, secrets["app"])
    server.stop()


def last_forwarded(surface: Surface) -> dict[str, Any]:
    recorded = surface.recorded()
    assert recorded, "nothing reached the upstream"
    return recorded[-1]


# --- tools  --------------------------------------------------------------------------------------


def test_tool_calls_round_trip_with_the_openai_sdk(surface: Surface) -> None:
    client = surface.client()
    question = [{"role": "user", "content": "Weather and time in Paris?"}]
    raw = client.chat.completions.with_raw_response.create(
        model=AGENT_MODEL, messages=question, tools=[WEATHER, TIME], parallel_tool_calls=True
    )
    # Of the model's two deployments, tools go to the one that declares them.
    assert raw.headers["x-modelyard-deployment"] == "test/agent"
    first = raw.parse()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"city": "text", "unit": "celsius"}  # type: ignore[union-attr]
    sent = last_forwarded(surface)
    assert sent["tools"] == [WEATHER, TIME]
    assert sent["parallel_tool_calls"] is True
    assert sent["model"] == "agent"

    # The agent loop's second turn: the assistant's tool calls and both results go back.
    history: list[Any] = [
        *question,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "18 C, sunny"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "14:05"},
    ]
    second = client.chat.completions.create(
        model=AGENT_MODEL, messages=history, tools=[WEATHER, TIME]
    )
    assert second.choices[0].message.content == "result: 14:05"
    forwarded = last_forwarded(surface)["messages"]
    assert forwarded[1]["tool_calls"] == [c.model_dump() for c in calls]
    assert forwarded[1].get("content") is None
    assert [m.get("tool_call_id") for m in forwarded[2:]] == [calls[0].id, calls[1].id]


def test_named_tool_choice_and_no_parallel_calls(surface: Surface) -> None:
    answer = surface.client().chat.completions.create(
        model=AGENT_MODEL,
        messages=[{"role": "user", "content": "time?"}],
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        parallel_tool_calls=False,
    )
    calls = answer.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_time"]  # type: ignore[union-attr]
    sent = last_forwarded(surface)
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert sent["parallel_tool_calls"] is False


def test_streamed_tool_calls_arrive_in_openai_shape(surface: Surface) -> None:
    stream = surface.client().chat.completions.create(
        model=AGENT_MODEL,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER, TIME],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    heads = [d.tool_calls[0] for d in deltas if d.tool_calls and d.tool_calls[0].id]
    # index, id and name first, then argument fragments that carry only the index.
    assert [(h.index, h.function.name) for h in heads] == [(0, "get_weather"), (1, "get_time")]  # type: ignore[union-attr]
    arguments: dict[int, str] = {}
    for delta in deltas:
        for call in delta.tool_calls or []:
            arguments[call.index] = arguments.get(call.index, "") + (call.function.arguments or "")  # type: ignore[union-attr]
    assert json.loads(arguments[0]) == {"city": "text", "unit": "celsius"}
    assert json.loads(arguments[1]) == {"zone": "text"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


def test_streamed_chunks_are_the_upstreams(surface: Surface) -> None:
    """The relayed stream is the upstream's, chunk for chunk, but for the model's name."""
    body = {
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [WEATHER],
        "n": 2,
        "logprobs": True,
        "top_logprobs": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    def chunks(base: str, model: str, key: str) -> list[dict[str, Any]]:
        found = []
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.stream(
            "POST", f"{base}/v1/chat/completions", json={**body, "model": model}, headers=headers
        ) as response:
            assert response.status_code == 200, response.read()
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    chunk = json.loads(line[6:])
                    chunk.pop("created")
                    chunk.pop("model")
                    found.append(chunk)
        return found

    direct = chunks(surface.upstream.base_url, "agent", "none")
    relayed = chunks(surface.server.base_url, AGENT_MODEL, surface.key)
    assert relayed == direct
    assert sum(1 for c in relayed if c["choices"] and c["choices"][0]["index"] == 1) > 1


# --- everything else a client may set  -----------------------------------------------------------


def test_every_parameter_is_forwarded_as_sent(surface: Surface) -> None:
    body: dict[str, Any] = {
        "model": AGENT_MODEL,
        "messages": [
            {"role": "developer", "content": "Be brief.", "name": "ops"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.org/cat.png", "detail": "low"},
                    },
                ],
            },
        ],
        "n": 2,
        "logprobs": True,
        "top_logprobs": 2,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100},
        "user": "user-1234",
        "seed": 42,
        "stop": ["\n\n"],
        "temperature": 0.3,
        "top_p": 0.9,
        "max_completion_tokens": 50,
        "metadata": {"ticket": "T-1"},
        "service_tier": "auto",
        "reasoning_effort": "low",
        "prediction": {"type": "content", "content": "A cat"},
        "store": False,
        "x_vendor_option": {"beam": 3},  # unknown to modelyard: still the server's business
        "route": {"strategy": "cheapest"},
    }
    surface.forget()
    response = surface.post(body)
    assert response.status_code == 200, response.text
    sent = last_forwarded(surface)
    expected = {k: v for k, v in body.items() if k != "route"}
    assert sent == {**expected, "model": "agent", "stream": False}
    answer = response.json()
    assert [c["index"] for c in answer["choices"]] == [0, 1]
    tokens = answer["choices"][0]["logprobs"]["content"]
    assert tokens[0]["token"] == "echo: " and len(tokens[0]["top_logprobs"]) == 2
    assert answer["usage"]["prompt_tokens_details"]["cached_tokens"] == 2
    assert answer["usage"]["completion_tokens_details"]["reasoning_tokens"] == 1
    assert answer["system_fingerprint"] == "fp_agent"


def test_logprobs_and_choices_through_the_sdk(surface: Surface) -> None:
    answer = surface.client().chat.completions.create(
        model=AGENT_MODEL,
        messages=[{"role": "user", "content": "two words"}],
        n=3,
        logprobs=True,
        top_logprobs=3,
    )
    assert len(answer.choices) == 3
    logprobs = answer.choices[2].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert [t.token for t in logprobs.content] == ["echo: ", "two ", "words "]
    assert len(logprobs.content[1].top_logprobs) == 3


# --- structured output  --------------------------------------------------------------------------


class Person(BaseModel):
    name: str
    age: int
    languages: list[str]


def test_parse_with_a_pydantic_model(surface: Surface) -> None:
    completion = surface.client().chat.completions.parse(
        model=AGENT_MODEL,
        messages=[{"role": "user", "content": "Ada, 36, speaks English and French"}],
        response_format=Person,
    )
    assert completion.choices[0].message.parsed == Person(name="text", age=7, languages=["text"])
    fmt = last_forwarded(surface)["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["name", "age", "languages"]


def test_json_object_mode(surface: Surface) -> None:
    answer = surface.client().chat.completions.create(
        model=AGENT_MODEL,
        messages=[{"role": "user", "content": "hi"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(answer.choices[0].message.content or "") == {"echo": "hi"}


# --- capabilities  -------------------------------------------------------------------------------


def test_a_deployment_without_the_capability_is_excluded_by_name(surface: Surface) -> None:
    body = {"model": PLAIN_MODEL, "messages": [{"role": "user", "content": "hi"}], "tools": [TIME]}
    plan = surface.post(body, "/v1/route").json()
    reasons = {e["deployment"]: (e["reason"], e["detail"]) for e in plan["excluded"]}
    assert reasons["test/agent-plain"] == ("capability", "the deployment lacks tools")
    surface.forget()
    refused = surface.post(body)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "tools"
    assert refused.json()["error"]["code"] == "no_candidate"
    assert surface.recorded() == []  # nothing reached a model

    with pytest.raises(openai.BadRequestError) as caught:
        surface.client().chat.completions.create(
            model=PLAIN_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        )
    assert caught.value.param == "response_format"


def test_auto_keeps_the_embedded_model_for_tools(surface: Surface) -> None:
    # The embedded model answers tools with grammar-constrained calls (adapters/embedded_tools.py);
    # the deployment that declares no tools is still excluded, by name.
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "tools": [TIME]}
    plan = surface.post(body, "/v1/route").json()
    reasons = {e["deployment"]: (e["reason"], e["detail"]) for e in plan["excluded"]}
    assert "embedded/smollm2-135m-instruct" not in reasons
    assert reasons["test/agent-plain"] == ("capability", "the deployment lacks tools")
    considered = [c["deployment"] for c in plan["candidates"]]
    assert "embedded/smollm2-135m-instruct" in considered


# --- bad input  ----------------------------------------------------------------------------------

USER = [{"role": "user", "content": "hi"}]
BAD_INPUTS = [
    (
        "malformed tool schema",
        {
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}
            ]
        },
        "tools.0.function.parameters",
    ),
    (
        "tool name",
        {"tools": [{"type": "function", "function": {"name": "no spaces allowed"}}]},
        "tools.0.function.name",
    ),
    ("tool type", {"tools": [{"type": "retrieval"}]}, "tools.0.type"),
    (
        "unmatched tool_call_id",
        {"messages": [*USER, {"role": "tool", "tool_call_id": "nope", "content": "42"}]},
        "messages.1.tool_call_id",
    ),
    (
        "tool message without id",
        {"messages": [*USER, {"role": "tool", "content": "42"}]},
        "messages.1.tool_call_id",
    ),
    (
        "image URL scheme",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}],
                }
            ]
        },
        "messages.0.content.0.image_url.url",
    ),
    (
        "oversized data URL",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "data:image/png;base64," + "A" * (9 * 1024 * 1024)
                            },
                        }
                    ],
                }
            ]
        },
        "messages.0.content.0.image_url.url",
    ),
    (
        "schema not JSON Schema",
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": 12}},
            }
        },
        "response_format.json_schema.schema",
    ),
    ("n over its limit", {"n": 129}, "n"),
    ("top_logprobs over its limit", {"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ("logit_bias out of range", {"logit_bias": {"50256": 101}}, "logit_bias"),
    (
        "tool_choice names no tool",
        {"tools": [TIME], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        "tool_choice.function.name",
    ),
]


@pytest.mark.parametrize(("why", "change", "param"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_a_400_naming_the_param(
    surface: Surface, why: str, change: dict[str, Any], param: str
) -> None:
    surface.forget()
    response = surface.post({"model": AGENT_MODEL, "messages": USER, **change})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error"
    assert surface.recorded() == []


# --- /v1/models  ---------------------------------------------------------------------------------


def test_models_carry_window_price_and_parameters(surface: Surface) -> None:
    client = surface.client()
    listed = {m.id: m for m in client.models.list()}
    card = listed[AGENT_MODEL].model_dump()
    assert card["context_length"] == 32768
    assert card["pricing"] == {"prompt": "0", "completion": "0"}  # the free local agent
    assert {"tools", "response_format", "logprobs", "n"} <= set(card["supported_parameters"])
    assert "tools" in card["capabilities"]
    plain = client.models.retrieve(PLAIN_MODEL).model_dump()
    assert "tools" not in plain["supported_parameters"]
    assert plain["object"] == "model" and plain["owned_by"] == "microsoft"


# --- LangChain  ----------------------------------------------------------------------------------


def test_langchain_bind_tools_and_structured_output(surface: Surface) -> None:
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    llm = ChatOpenAI(
        model=AGENT_MODEL,
        base_url=f"{surface.server.base_url}/v1",
        api_key=surface.key,  # type: ignore[arg-type]
        max_retries=0,
    )
    message = llm.bind_tools([get_weather]).invoke("Weather in Oslo?")
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("get_weather", {"city": "text"})
    ]
    for method in ("json_schema", "function_calling"):
        structured = llm.with_structured_output(Person, method=method)  # type: ignore[arg-type]
        person = structured.invoke("Ada, 36, speaks English")
        assert person == Person(name="text", age=7, languages=["text"]), method
    # function_calling sends the schema as a tool and forces it by name.
    sent = last_forwarded(surface)
    assert sent["tool_choice"]["function"]["name"] == "Person"
    schema = sent["tools"][0]["function"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(schema)


# --- a real llama.cpp server calling tools  ------------------------------------------------------


@pytest.fixture(scope="module")
def tool_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from tests.conftest import start_llama_server

    server = start_llama_server(tmp_path_factory.mktemp("llama-tools"), "chatml-function-calling")
    yield server
    server.stop()


def test_a_real_llama_cpp_server_calls_a_tool(
    tmp_path_factory: pytest.TempPathFactory, tool_server: ServerProcess
) -> None:
    folder = tmp_path_factory.mktemp("llama-tools-gateway")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    key = prepare_database(
        url,
        folder,
        [
            {
                "name": "test/llama-tools",
                "model": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
                "base_url": f"{tool_server.base_url}/v1",
                "served_name": "smollm2",
                "capabilities": ["tools", "tool_choice", "json_mode", "json_schema"],
            }
        ],
        {"app": {}},
    )["app"]
    server = start_gateway(folder, {"MODELYARD_DATABASE_URL": url}, "llama-tools")
    try:
        client = OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)
        answer = client.chat.completions.create(
            model="smollm2-1.7b",
            messages=[{"role": "user", "content": "What is the weather in Paris, in celsius?"}],
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            temperature=0,
            max_tokens=60,
        )
        calls = answer.choices[0].message.tool_calls or []
        assert [c.function.name for c in calls] == ["get_weather"]  # type: ignore[union-attr]
        arguments = json.loads(calls[0].function.arguments)  # type: ignore[union-attr]
        jsonschema.validate(arguments, WEATHER["function"]["parameters"])  # type: ignore[index]

        streamed = client.chat.completions.create(
            model="smollm2-1.7b",
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            temperature=0,
            max_tokens=60,
            stream=True,
        )
        pieces = [
            call
            for chunk in streamed
            if chunk.choices
            for call in chunk.choices[0].delta.tool_calls or []
        ]
        assert pieces and pieces[0].function and pieces[0].function.name == "get_weather"
        joined = "".join((p.function.arguments or "") for p in pieces if p.function)
        jsonschema.validate(json.loads(joined), WEATHER["function"]["parameters"])  # type: ignore[index]
    finally:
        server.stop()


class City(BaseModel):
    name: str = Field(max_length=24)
    country: str = Field(max_length=24)
    population_millions: int


def test_the_embedded_model_parses_into_a_pydantic_model(surface: Surface) -> None:
    raw = surface.client().chat.completions.with_raw_response.parse(
        model="smollm2-135m",
        messages=[{"role": "user", "content": "Paris is the capital of France."}],
        response_format=City,
        max_tokens=80,
        seed=7,
    )
    assert raw.headers["x-modelyard-deployment"] == "embedded/smollm2-135m-instruct"
    city = raw.parse().choices[0].message.parsed
    assert isinstance(city, City)  # schema-valid JSON from a 135M model: the grammar's doing
