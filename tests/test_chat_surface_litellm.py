"""The whole chat request through litellm, both ways: modelyard's hosted adapter forwarding
tools, logprobs and several choices through litellm's parameter mapping (to the recording
`agent` upstream, as if it were a provider), refusing by name what litellm cannot map; and
litellm's own client talking to modelyard. `import litellm` costs ~10 s: it happens once,
here, lazily."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from adapters.base import Target, Timeouts
from adapters.errors import UnsupportedParameter
from adapters.hosted import HostedAdapter
from adapters.schemas import ChatRequest
from tests.servers import ServerProcess
from tests.test_chat_surface import AGENT_MODEL, WEATHER, Surface, surface  # noqa: F401

pytestmark = pytest.mark.anyio


def agent(fault_upstream: ServerProcess) -> HostedAdapter:
    return HostedAdapter(
        Target(
            kind="hosted",
            served_name="openai/agent",
            base_url=f"{fault_upstream.base_url}/v1",
            api_key="sk-test",
            timeouts=Timeouts(total=30),
        )
    )


def ask(**fields: Any) -> ChatRequest:
    return ChatRequest.model_validate(
        {"messages": [{"role": "user", "content": "weather in Rome?"}], **fields}
    )


def last_body(fault_upstream: ServerProcess) -> dict[str, Any]:
    recorded = httpx.get(fault_upstream.base_url + "/recorded").json()
    body: dict[str, Any] = recorded[-1]["body"]
    return body


async def test_hosted_forwards_tools_logprobs_and_choices(fault_upstream: ServerProcess) -> None:
    answer = await agent(fault_upstream).chat(
        ask(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False, n=2, seed=9)
    )
    sent = last_body(fault_upstream)
    assert sent["tools"] == [WEATHER]
    assert (sent["tool_choice"], sent["parallel_tool_calls"], sent["n"]) == ("required", False, 2)
    assert len(answer["choices"]) == 2
    call = answer["choices"][1]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "text", "unit": "celsius"}
    assert answer["choices"][0]["finish_reason"] == "tool_calls"

    logged = await agent(fault_upstream).chat(ask(logprobs=True, top_logprobs=2))
    assert last_body(fault_upstream)["top_logprobs"] == 2
    content = logged["choices"][0]["logprobs"]["content"]
    assert content[0]["token"] == "echo: " and len(content[0]["top_logprobs"]) == 2


async def test_hosted_streams_tool_call_deltas(fault_upstream: ServerProcess) -> None:
    chunks = [c async for c in agent(fault_upstream).stream(ask(tools=[WEATHER]))]
    calls = [
        call
        for chunk in chunks
        for choice in chunk.get("choices") or []
        for call in (choice.get("delta") or {}).get("tool_calls") or []
    ]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"]
    arguments = "".join(c["function"].get("arguments") or "" for c in calls)
    assert json.loads(arguments) == {"city": "text", "unit": "celsius"}


async def test_a_parameter_litellm_cannot_map_is_refused_by_name() -> None:
    claude = HostedAdapter(Target(kind="hosted", served_name="anthropic/claude-3-haiku-20240307"))
    with pytest.raises(UnsupportedParameter) as refused:
        await claude.chat(ask(logit_bias={"50256": -100}))
    assert refused.value.param == "logit_bias"
    with pytest.raises(UnsupportedParameter) as unknown:
        await claude.chat(ask(vendor_knob=1))
    assert unknown.value.param == "vendor_knob"


def test_litellms_client_against_modelyard(surface: Surface) -> None:  # noqa: F811
    from adapters.hosted import litellm_module

    litellm = litellm_module()
    answer = litellm.completion(
        model=f"openai/{AGENT_MODEL}",
        api_base=f"{surface.server.base_url}/v1",
        api_key=surface.key,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER],
        n=2,
        logprobs=True,
        top_logprobs=1,
    )
    assert len(answer.choices) == 2
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "text", "unit": "celsius"}
    streamed = litellm.completion(
        model=f"openai/{AGENT_MODEL}",
        api_base=f"{surface.server.base_url}/v1",
        api_key=surface.key,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER],
        stream=True,
    )
    fragments = [
        call.function.arguments or ""
        for chunk in streamed
        for call in (chunk.choices[0].delta.tool_calls or [] if chunk.choices else [])
    ]
    assert json.loads("".join(fragments)) == {"city": "text", "unit": "celsius"}
