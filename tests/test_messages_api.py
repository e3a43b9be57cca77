"""POST /v1/messages end to end: Anthropic's official SDK (and plain HTTP, as Claude Code sends
it) against a real modelyard process, routed like chat to a recording upstream and a real
llama.cpp server; errors in Anthropic's shape; count_tokens and the dry run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import echo_deployment, prepare_database, start_gateway
from tests.servers import ServerProcess

AGENT = "mistral-7b-instruct"  # the recording `agent` upstream (tests/agent_upstream.py)
STOPS = "Qwen/Qwen2.5-7B-Instruct"  # the fault upstream's `stops`: names its stop, as vLLM does
EMBEDDED = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass
class Target:
    server: ServerProcess
    upstream: ServerProcess
    keys: dict[str, str]

    def client(self, key: str = "app") -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=self.server.base_url, api_key=self.keys[key], max_retries=0
        )

    def post(self, path: str, body: Any, **headers: str) -> httpx.Response:
        # Claude Code's way: the key in x-api-key, an anthropic-version header.
        sent = {"x-api-key": self.keys["app"], "anthropic-version": "2023-06-01", **headers}
        return httpx.post(self.server.base_url + path, json=body, headers=sent, timeout=60)

    def upstream_requests(self) -> int:
        return int(httpx.get(f"{self.upstream.base_url}/stats").json()["requests"])

    def last_upstream_body(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.upstream.base_url}/recorded").json()[-1]["body"])


@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory,
    fault_upstream: ServerProcess,
    llama_server: ServerProcess,
) -> Iterator[Target]:
    folder: Path = tmp_path_factory.mktemp("messages")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    deployments = [
        echo_deployment(fault_upstream, input_cost_per_token=1e-9, output_cost_per_token=2e-9),
        {
            "name": "test/agent",
            "model": AGENT,
            "served_name": "agent",
            "base_url": f"{fault_upstream.base_url}/v1",
            "capabilities": ["tools", "parallel_tools", "tool_choice", "vision"],
        },
        {
            "name": "test/stops",
            "model": STOPS,
            "served_name": "stops",
            "base_url": f"{fault_upstream.base_url}/v1",
        },
        {
            "name": "test/llama-server",
            "model": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
            "base_url": f"{llama_server.base_url}/v1",
            "served_name": "smollm2",
        },
    ]
    keys = prepare_database(url, folder, deployments, api_keys={"app": {}})
    server = start_gateway(folder, {"MODELYARD_DATABASE_URL": url})
    yield Target(server, fault_upstream, keys)
    server.stop()


def test_sdk_message_is_routed_and_explained(target: Target) -> None:
    raw = target.client().messages.with_raw_response.create(
        model="phi-2", max_tokens=50, messages=[{"role": "user", "content": "ping"}]
    )
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == "echo: ping"
    assert message.stop_reason == "end_turn" and message.model == "microsoft/phi-2"
    assert message.usage.input_tokens == 5 and message.usage.output_tokens == 2
    assert raw.headers["x-modelyard-deployment"] == "test/phi-2-echo"
    assert float(raw.headers["x-modelyard-cost-usd"]) == pytest.approx(5e-9 + 2 * 2e-9)


def test_x_api_key_and_system_blocks_as_claude_code_sends_them(target: Target) -> None:
    response = target.post(
        "/v1/messages",
        {
            "model": AGENT,
            "max_tokens": 64,
            "system": [
                {"type": "text", "text": "You are terse."},
                {
                    "type": "text",
                    "text": "Answer in English.",
                    "cache_control": {"type": "ephemeral"},
                },
            ],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
            "stop_sequences": ["\n\nHuman:"],
            "temperature": 0.3,
            "metadata": {"user_id": "user-7"},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"] == [{"type": "text", "text": "echo: hello"}]
    sent = target.last_upstream_body()
    assert sent["messages"][0] == {
        "role": "system",
        "content": "You are terse.\n\nAnswer in English.",
    }
    assert sent["max_tokens"] == 64 and sent["stop"] == ["\n\nHuman:"]
    assert sent["temperature"] == 0.3 and sent["user"] == "user-7"


def test_sdk_streams_anthropic_events(target: Target) -> None:
    with target.client().messages.stream(
        model="phi-2", max_tokens=50, messages=[{"role": "user", "content": "a b c"}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert final.content[0].text.strip() == "echo: a b c"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 4


def test_raw_stream_has_ping_and_named_events(target: Target) -> None:
    body = {
        "model": "phi-2",
        "max_tokens": 20,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    response = target.post("/v1/messages", body)
    names = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-2:] == ["message_delta", "message_stop"]


WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_sdk_tool_use_round_trip(target: Target) -> None:
    client = target.client()
    question = {"role": "user", "content": "weather in Paris?"}
    message = client.messages.create(
        model=AGENT, max_tokens=100, messages=[question], tools=[WEATHER]
    )
    assert message.stop_reason == "tool_use"
    use = message.content[0]
    assert use.type == "tool_use" and use.name == "get_weather" and use.input == {"city": "text"}
    sent = target.last_upstream_body()
    assert sent["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]

    answer = client.messages.create(
        model=AGENT,
        max_tokens=100,
        tools=[WEATHER],
        messages=[
            question,
            {"role": "assistant", "content": [block.model_dump() for block in message.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
            },
        ],
    )
    assert answer.content[0].text == "result: sunny" and answer.stop_reason == "end_turn"
    roles = [m["role"] for m in target.last_upstream_body()["messages"]]
    assert roles == ["user", "assistant", "tool"]


def test_sdk_streamed_tool_use(target: Target) -> None:
    with target.client().messages.stream(
        model=AGENT,
        max_tokens=100,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert set(deltas) == {"input_json_delta"}
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "text"}
    assert final.stop_reason == "tool_use"
    assert target.last_upstream_body()["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }


def test_real_llama_server_streams_through_messages(target: Target) -> None:
    with target.client().messages.stream(
        model="HuggingFaceTB/SmolLM2-1.7B-Instruct",
        max_tokens=20,
        messages=[{"role": "user", "content": "Name three colours."}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.usage.output_tokens > 0


def test_the_stop_sequence_the_server_names_is_reported(target: Target) -> None:
    client = target.client()
    asked = {"model": STOPS, "max_tokens": 50, "stop_sequences": ["zz", "|"]}
    said = [{"role": "user", "content": "a|b zz c"}]
    message = client.messages.create(**asked, messages=said)  # type: ignore[arg-type]
    assert message.content[0].text == "echo: a"  # type: ignore[union-attr]
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "|")
    with client.messages.stream(**asked, messages=said) as stream:  # type: ignore[arg-type]
        events = list(stream)
        final = stream.get_final_message()
    delta = next(e for e in events if e.type == "message_delta")
    assert (delta.delta.stop_reason, delta.delta.stop_sequence) == ("stop_sequence", "|")
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "|")

    ended = client.messages.create(  # type: ignore[call-overload]
        **asked, messages=[{"role": "user", "content": "no stop here"}]
    )
    assert (ended.stop_reason, ended.stop_sequence) == ("end_turn", None)
    other = client.messages.create(  # type: ignore[call-overload]
        model=STOPS, max_tokens=50, messages=said, stop_sequences=["zz"]
    )
    assert other.content[0].text == "echo: a|b "
    assert (other.stop_reason, other.stop_sequence) == ("stop_sequence", "zz")


def test_the_embedded_model_names_the_stop_sequence_it_stopped_on(target: Target) -> None:
    asked: dict[str, Any] = {
        "model": EMBEDDED,
        "max_tokens": 30,
        "extra_body": {"temperature": 0},  # this SDK has no `temperature` of its own
        "stop_sequences": ["4", "never"],
        "messages": [{"role": "user", "content": "Count from 1 to 10, separated by commas."}],
    }
    raw = target.client().messages.with_raw_response.create(**asked)
    message = raw.parse()
    assert raw.headers["x-modelyard-deployment"] == "embedded/smollm2-135m-instruct"
    assert message.content[0].text == "1, 2, 3, "  # type: ignore[union-attr]
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "4")
    with target.client().messages.stream(**asked) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "4")
    unasked = target.client().messages.create(**{**asked, "stop_sequences": ["never"]})
    # Without "4" among the stops the count runs past it. Whether SmolLM2 ends its turn within
    # 30 tokens depends on llama-cpp-python's build (0.3.36 counts on to the limit), so either
    # ending is right; a stop sequence that never matched is never named.
    assert unasked.content[0].text.startswith("1, 2, 3, 4")  # type: ignore[union-attr]
    assert unasked.stop_sequence is None
    assert unasked.stop_reason in ("end_turn", "max_tokens")


def test_count_tokens_and_dry_run_call_no_model(target: Target) -> None:
    before = target.upstream_requests()
    counted = target.client().messages.count_tokens(
        model="phi-2", messages=[{"role": "user", "content": "how many tokens is this?"}]
    )
    assert counted.input_tokens > 0
    longer = target.client().messages.count_tokens(
        model="phi-2",
        system="a much longer system prompt " * 20,
        messages=[{"role": "user", "content": "how many tokens is this?"}],
    )
    assert longer.input_tokens > counted.input_tokens + 50
    plan = target.post(
        "/v1/messages/route",
        {"model": "phi-2", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert plan.status_code == 200, plan.text
    assert plan.json()["candidates"][0]["deployment"] == "test/phi-2-echo"
    assert plan.json()["chat_request"]["max_tokens"] == 9
    assert target.upstream_requests() == before


@pytest.mark.parametrize(
    ("body", "status", "kind", "named"),
    [
        (
            {"model": "phi-2", "messages": [{"role": "user", "content": "x"}]},
            400,
            "invalid_request_error",
            "max_tokens",
        ),
        (
            {
                "model": "phi-2",
                "max_tokens": 5,
                "input": "x",
                "messages": [{"role": "user", "content": "x"}],
            },
            400,
            "invalid_request_error",
            "input",
        ),
        (
            {
                "model": "phi-2",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            400,
            "invalid_request_error",
            "web_search_20250305",
        ),
        (
            {
                "model": "phi-2",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "thinking": {"type": "enabled", "budget_tokens": 2000},
            },
            400,
            "invalid_request_error",
            "thinking",
        ),
        (
            {
                "model": "no-such-model",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
            },
            404,
            "not_found_error",
            "no-such-model",
        ),
    ],
)
def test_errors_in_anthropic_shape_and_nothing_reaches_a_model(
    target: Target, body: dict[str, Any], status: int, kind: str, named: str
) -> None:
    before = target.upstream_requests()
    response = target.post("/v1/messages", body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["type"] == "error" and payload["error"]["type"] == kind
    assert named in payload["error"]["message"]
    assert target.upstream_requests() == before


def test_sdk_raises_its_own_exceptions(target: Target) -> None:
    bad = anthropic.Anthropic(base_url=target.server.base_url, api_key="my-nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        bad.messages.create(
            model="phi-2", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.body["error"]["type"] == "authentication_error"
    missing = httpx.post(
        target.server.base_url + "/v1/messages",
        json={"model": "phi-2", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )
    assert missing.status_code == 401 and "x-api-key" in missing.json()["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):
        target.client().messages.create(
            model="phi-2", max_tokens=5, messages=[{"role": "system", "content": "x"}]
        )
    assert json.loads(json.dumps(caught.value.body))  # a plain JSON body
