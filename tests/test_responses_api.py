"""POST /v1/responses end to end: the official openai SDK (and the OpenAI Agents SDK) against
a real modelyard process, routed like chat to a recording upstream, a real llama.cpp server
and the embedded model; stored responses and `previous_response_id` on the real database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import echo_deployment, prepare_database, start_gateway
from tests.servers import ServerProcess


@dataclass
class Target:
    server: ServerProcess
    upstream: ServerProcess
    keys: dict[str, str]

    def client(self, key: str = "app") -> OpenAI:
        return OpenAI(base_url=f"{self.server.base_url}/v1", api_key=self.keys[key], max_retries=0)

    def post(self, path: str, body: Any, key: str = "app") -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[key]}"}
        return httpx.post(self.server.base_url + path, json=body, headers=headers, timeout=60)

    def upstream_requests(self) -> int:
        return int(httpx.get(f"{self.upstream.base_url}/stats").json()["requests"])

    def last_upstream_body(self) -> dict[str, Any]:
        """What the recording `agent` upstream got last."""
        return dict(httpx.get(f"{self.upstream.base_url}/recorded").json()[-1]["body"])


# The fault upstream's recording `agent` model (tests/agent_upstream.py), with every capability.
AGENT = "mistral-7b-instruct"
AGENT_DEPLOYMENT = {
    "name": "test/agent",
    "model": AGENT,
    "served_name": "agent",
    "capabilities": [
        "tools",
        "parallel_tools",
        "tool_choice",
        "json_mode",
        "json_schema",
        "vision",
    ],
}


@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory,
    fault_upstream: ServerProcess,
    llama_server: ServerProcess,
) -> Iterator[Target]:
    folder: Path = tmp_path_factory.mktemp("responses")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    deployments = [
        echo_deployment(fault_upstream, input_cost_per_token=1e-9, output_cost_per_token=2e-9),
        {**AGENT_DEPLOYMENT, "base_url": f"{fault_upstream.base_url}/v1"},
        {
            "name": "test/llama-server",
            "model": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
            "base_url": f"{llama_server.base_url}/v1",
            "served_name": "smollm2",
        },
    ]
    keys = prepare_database(url, folder, deployments, api_keys={"app": {}, "other": {}})
    server = start_gateway(folder, {"MODELYARD_DATABASE_URL": url})
    yield Target(server, fault_upstream, keys)
    server.stop()


def test_sdk_plain_response_is_routed_and_explained(target: Target) -> None:
    raw = target.client().responses.with_raw_response.create(
        model="phi-2", input="ping", instructions="answer briefly", max_output_tokens=50
    )
    response = raw.parse()
    assert response.output_text == "echo: ping"
    assert response.status == "completed" and response.model == "microsoft/phi-2"
    assert response.usage is not None and response.usage.input_tokens == 5
    assert raw.headers["x-modelyard-deployment"] == "test/phi-2-echo"
    assert raw.headers["x-modelyard-route-id"].startswith("route-")
    assert float(raw.headers["x-modelyard-cost-usd"]) == pytest.approx(5e-9 + 2 * 2e-9)


def test_the_model_gets_the_chat_request_the_input_became(target: Target) -> None:
    target.client().responses.create(
        model=AGENT,
        instructions="answer briefly",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is this?"},
                    {"type": "input_image", "image_url": "https://example.test/cat.png"},
                ],
            }
        ],
        max_output_tokens=50,
        temperature=0.2,
        text={"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}}},
    )
    sent = target.last_upstream_body()
    assert sent["messages"] == [
        {"role": "system", "content": "answer briefly"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}},
            ],
        },
    ]
    assert sent["max_completion_tokens"] == 50 and sent["temperature"] == 0.2
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}},
    }


def test_sdk_streaming_event_sequence(target: Target) -> None:
    events = list(target.client().responses.create(model="phi-2", input="a b", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.strip() == "echo: a b"
    final = events[-1].response
    assert final.output_text.strip() == "echo: a b"
    assert final.usage is not None and final.usage.output_tokens > 0


def test_stored_responses_continue_and_stay_with_their_key(target: Target) -> None:
    client = target.client()
    first = client.responses.create(model=AGENT, input="one")
    second = client.responses.create(model=AGENT, input="two", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert target.last_upstream_body()["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "echo: one"},
        {"role": "user", "content": "two"},
    ]
    third = client.responses.create(
        model=AGENT, input="three", previous_response_id=second.id, stream=True
    )
    final = next(e for e in third if e.type == "response.completed").response
    assert len(target.last_upstream_body()["messages"]) == 5
    assert client.responses.retrieve(final.id).output_text.strip() == "echo: three"
    assert client.responses.retrieve(first.id).output_text == "echo: one"

    other = target.client("other")
    before = target.upstream_requests()
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model=AGENT, input="x", previous_response_id=first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model=AGENT, input="x", previous_response_id="resp_unknown")
    assert target.upstream_requests() == before  # nothing reached a model

    client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(second.id)
    with pytest.raises(openai.NotFoundError) as broken:  # the chain through it is gone
        client.responses.create(model=AGENT, input="x", previous_response_id=final.id)
    assert second.id in str(broken.value)


def test_unstored_responses_are_not_kept(target: Target) -> None:
    client = target.client()
    response = client.responses.create(model="phi-2", input="secret", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_sdk_function_call_round_trip(target: Target) -> None:
    client = target.client()
    response = client.responses.create(model=AGENT, input="weather in Paris?", tools=[WEATHER_TOOL])
    call = response.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "text"}
    sent = target.last_upstream_body()
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["parameters"]

    follow = client.responses.create(
        model=AGENT,
        previous_response_id=response.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER_TOOL],
    )
    assert follow.output_text == "result: sunny"
    roles = [m["role"] for m in target.last_upstream_body()["messages"]]
    assert roles == ["user", "assistant", "tool"]


def test_sdk_streamed_function_call(target: Target) -> None:
    events = list(
        target.client().responses.create(
            model=AGENT, input="weather?", tools=[WEATHER_TOOL], stream=True
        )
    )
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == {"city": "text"}
    final = events[-1].response
    assert (
        final.output[0].type == "function_call" and final.output[0].call_id == "call_0_get_weather"
    )


def test_agents_sdk_runs_a_one_tool_agent(target: Target) -> None:
    agents = pytest.importorskip("agents")
    from openai import AsyncOpenAI

    client = AsyncOpenAI(
        base_url=f"{target.server.base_url}/v1", api_key=target.keys["app"], max_retries=0
    )
    seen: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        seen.append(city)
        return f"sunny in {city}"

    agent = agents.Agent(
        name="weather",
        instructions="Use the tool.",
        tools=[get_weather],
        model=agents.OpenAIResponsesModel(model=AGENT, openai_client=client),
    )
    try:
        result = agents.Runner.run_sync(
            agent, "weather in Paris?", run_config=agents.RunConfig(tracing_disabled=True)
        )
    finally:
        import asyncio

        # run_sync leaves the thread's default loop open and the client's connections belong
        # to it: closed there. Left to the garbage collector, the client's finaliser closes
        # them on whatever loop runs then and fails a later async test ("Event loop is closed").
        asyncio.get_event_loop_policy().get_event_loop().run_until_complete(client.close())
    assert seen == ["text"]  # the scripted model fills arguments from the tool's schema
    assert result.final_output.strip() == "result: sunny in text"


def test_real_llama_server_streams_through_responses(target: Target) -> None:
    events = list(
        target.client().responses.create(
            model="HuggingFaceTB/SmolLM2-1.7B-Instruct",
            input="Name three colours.",
            max_output_tokens=20,
            stream=True,
        )
    )
    final = events[-1]
    assert final.type in ("response.completed", "response.incomplete")
    assert final.response.output_text and final.response.usage.output_tokens > 0


def test_embedded_model_answers_through_responses(target: Target) -> None:
    raw = target.client().responses.with_raw_response.create(
        model="auto",
        input="What is the capital of France? Answer in one word.",
        max_output_tokens=10,
        temperature=0,
        extra_body={
            "route": {"privacy": "local_only", "models": ["HuggingFaceTB/SmolLM2-135M-Instruct"]}
        },
    )
    assert raw.headers["x-modelyard-deployment"] == "embedded/smollm2-135m-instruct"
    assert "Paris" in raw.parse().output_text


def test_dry_run_explains_the_decision(target: Target) -> None:
    before = target.upstream_requests()
    response = target.post(
        "/v1/responses/route",
        {"model": "phi-2", "input": "hi", "instructions": "sys", "max_output_tokens": 9},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["candidates"][0]["deployment"] == "test/phi-2-echo"
    assert body["chat_request"]["messages"][0] == {"role": "system", "content": "sys"}
    assert body["chat_request"]["max_completion_tokens"] == 9
    assert target.upstream_requests() == before


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (
            {"model": "phi-2", "messages": [{"role": "user", "content": "x"}], "input": "x"},
            "messages",
        ),
        ({"model": "phi-2", "input": "x", "tools": [{"type": "web_search"}]}, "web_search"),
        ({"model": "phi-2", "input": "x", "max_tokens": 3}, "max_output_tokens"),
        ({"model": "phi-2", "input": [{"type": "reasoning"}]}, "reasoning"),
        ({"model": "phi-2"}, "input"),
        ({"model": "phi-2", "input": "x", "temperature": 9}, "temperature"),
    ],
)
def test_bad_input_is_named_in_openai_shape_and_reaches_no_model(
    target: Target, body: dict[str, Any], named: str
) -> None:
    before = target.upstream_requests()
    response = target.post("/v1/responses", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert {"message", "type", "param", "code"} <= set(error)
    assert named in error["message"]
    assert target.upstream_requests() == before


def test_bad_key_is_refused(target: Target) -> None:
    bad = OpenAI(base_url=f"{target.server.base_url}/v1", api_key="my-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.responses.create(model="phi-2", input="x")
