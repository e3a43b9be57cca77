"""The Responses and Messages translations on their own: requests into the canonical chat
request, chat answers and chunk streams back out, refusals named. (End to end through a real
gateway with the official SDKs: test_responses_api.py, test_messages_api.py.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from adapters.errors import UpstreamUnavailable
from router.api import messages, responses
from router.api.responses_events import ResponseEvents
from router.core.errors import RouteError


def responses_chat(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> Any:
    req = responses.ResponsesIn.model_validate({"model": "phi-2", **body})
    responses.check(req)
    chat, _ = responses.to_canonical(req, history or [])
    return chat


def messages_chat(body: dict[str, Any]) -> Any:
    req = messages.MessagesIn.model_validate({"model": "phi-2", "max_tokens": 50, **body})
    messages.check(req)
    return messages.to_canonical(req)


def refusal(call: Any, *args: Any) -> RouteError:
    with pytest.raises(RouteError) as caught:
        call(*args)
    assert caught.value.status == 400
    return caught.value


WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


# --- Responses: request in ----------------------------------------------------------------------


def test_responses_input_string_and_instructions() -> None:
    chat = responses_chat(
        {"input": "hi", "instructions": "be brief", "max_output_tokens": 20, "temperature": 0.5}
    )
    assert [(m.role, m.content) for m in chat.messages] == [("system", "be brief"), ("user", "hi")]
    assert chat.max_completion_tokens == 20 and chat.temperature == 0.5


def test_responses_items_become_one_chat_conversation() -> None:
    chat = responses_chat(
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "weather? "},
                        {
                            "type": "input_image",
                            "image_url": "https://x.test/a.png",
                            "detail": "low",
                        },
                    ],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Let me look."}],
                },
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "weather",
                    "arguments": '{"city":"Oslo"}',
                },
                {
                    "type": "function_call",
                    "call_id": "c2",
                    "name": "weather",
                    "arguments": '{"city":"Rome"}',
                },
                {"type": "function_call_output", "call_id": "c1", "output": "rain"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": "sun"}],
                },
            ],
            "tools": [{"type": "function", "name": "weather", "parameters": WEATHER}],
            "tool_choice": {"type": "function", "name": "weather"},
            "parallel_tool_calls": True,
        }
    )
    roles = [m.role for m in chat.messages]
    assert roles == ["user", "assistant", "tool", "tool"]
    user, assistant, first, second = chat.messages
    assert [p.type for p in user.content] == ["text", "image_url"]
    assert user.content[1].image_url.detail == "low"
    assert assistant.content == "Let me look."
    assert [c.id for c in assistant.tool_calls] == ["c1", "c2"]  # one turn, two calls
    assert (first.tool_call_id, first.content, second.content) == ("c1", "rain", "sun")
    assert chat.tools[0].function.name == "weather"
    assert chat.tool_choice.function.name == "weather"
    assert chat.parallel_tool_calls is True
    assert {"tools", "vision"} <= chat.needs()


def test_responses_text_format_and_reasoning_effort() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    chat = responses_chat(
        {
            "input": "x",
            "text": {
                "format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}
            },
            "reasoning": {"effort": "low"},
        }
    )
    assert chat.response_format.type == "json_schema"
    assert chat.response_format.json_schema.json_schema == schema
    assert chat.response_format.json_schema.strict is True
    assert chat.reasoning_effort == "low"
    assert (
        responses_chat(
            {"input": "x", "text": {"format": {"type": "json_object"}}}
        ).response_format.type
        == "json_object"
    )


def test_responses_history_comes_before_the_new_input() -> None:
    history = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}]
    chat = responses_chat({"input": "three", "instructions": "sys"}, history)
    assert [m.content for m in chat.messages] == ["sys", "one", "two", "three"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "messages"),
        ({"max_tokens": 5}, "max_output_tokens"),
        ({"response_format": {"type": "json_object"}}, "text.format"),
        ({"tools": [{"type": "web_search"}]}, "web_search"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}, "file_search"),
        ({"tools": [{"type": "computer_use_preview"}]}, "computer_use_preview"),
        ({"tool_choice": {"type": "web_search_preview"}}, "web_search_preview"),
        ({"reasoning": {"effort": "low", "summary": "auto"}}, "reasoning summaries"),
        ({"background": True}, "background"),
        ({"include": ["message.output_text.logprobs"]}, "message.output_text.logprobs"),
        ({"frobnicate": 1}, "frobnicate"),
    ],
)
def test_responses_refuses_by_name(body: dict[str, Any], named: str) -> None:
    error = refusal(responses_chat, {"input": "x", **body})
    assert named in error.message


@pytest.mark.parametrize(
    ("item", "named"),
    [
        ({"type": "reasoning", "summary": []}, "reasoning"),
        ({"type": "item_reference", "id": "msg_1"}, "item references"),
        ({"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}, "file_id"),
        ({"type": "function_call", "name": "f", "arguments": "{}"}, "call_id"),
        ({"role": "tool", "content": "x"}, "role"),
    ],
)
def test_responses_refuses_items_by_name(item: dict[str, Any], named: str) -> None:
    error = refusal(responses_chat, {"input": [item]})
    assert named in error.message and "input[0]" in error.message


def test_responses_problems_found_by_the_canonical_request_are_named() -> None:
    error = refusal(
        responses_chat,
        {"input": [{"type": "function_call_output", "call_id": "nope", "output": "x"}]},
    )
    assert "tool_call_id" in error.message


# --- Responses: answer out ----------------------------------------------------------------------


def answer(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "model": "microsoft/phi-2",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


def skeleton(**body: Any) -> dict[str, Any]:
    req = responses.ResponsesIn.model_validate({"model": "phi-2", "input": "x", **body})
    return responses.skeleton(req, "resp_test")


def test_chat_answer_as_a_response() -> None:
    calls = [{"id": "c9", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]
    response = responses.from_chat(
        answer({"role": "assistant", "content": "ok", "tool_calls": calls}, "tool_calls"),
        skeleton(),
    )
    assert response["status"] == "completed" and response["model"] == "microsoft/phi-2"
    message, call = response["output"]
    assert message["content"][0] == {
        "type": "output_text",
        "text": "ok",
        "annotations": [],
        "logprobs": [],
    }
    assert (call["type"], call["call_id"], call["name"]) == ("function_call", "c9", "weather")
    assert response["usage"]["input_tokens"] == 7 and response["usage"]["total_tokens"] == 10
    assert responses.as_chat_message(response["output"]) == {
        "role": "assistant",
        "content": "ok",
        "tool_calls": calls,
    }
    cut = responses.from_chat(answer({"role": "assistant", "content": "a b"}, "length"), skeleton())
    assert cut["status"] == "incomplete"
    assert cut["incomplete_details"] == {"reason": "max_output_tokens"}


def sse(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in data.decode().split("\n\n"):
        if block.strip():
            name, payload = block.split("\n", 1)
            out.append((name.removeprefix("event: "), json.loads(payload.removeprefix("data: "))))
    return out


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "model": "microsoft/phi-2",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


TEXT_THEN_CALL = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
    chunk({}, "tool_calls"),
    {
        "model": "microsoft/phi-2",
        "choices": [],
        "usage": {"prompt_tokens": 4, "completion_tokens": 6},
    },
]


def test_response_stream_event_sequence() -> None:
    stored: list[dict[str, Any]] = []

    async def keep(response: dict[str, Any]) -> None:
        stored.append(response)

    renderer = ResponseEvents(skeleton(stream=True), keep)
    data = b"".join(renderer.chunk(c) for c in TEXT_THEN_CALL)
    data += asyncio.run(renderer.end({"prompt_tokens": 4, "completion_tokens": 6}))
    events = sse(data)
    assert [name for name, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for _, e in events] == list(range(len(events)))
    assert all(e["type"] == name for name, e in events)
    assert events[6][1]["text"] == "Hello"
    assert events[12][1]["arguments"] == '{"city":"Oslo"}' and events[12][1]["output_index"] == 1
    final = events[-1][1]["response"]
    assert final["status"] == "completed" and final["usage"]["output_tokens"] == 6
    assert [i["type"] for i in final["output"]] == ["message", "function_call"]
    assert stored == [final]  # kept before the client saw it complete


def test_response_stream_failure_ends_with_response_failed() -> None:
    renderer = ResponseEvents(skeleton(stream=True))
    data = renderer.chunk(chunk({"content": "par"})) + renderer.failed(UpstreamUnavailable("cut"))
    name, last = sse(data)[-1]
    assert name == "response.failed" and last["response"]["status"] == "failed"
    assert last["response"]["error"]["message"] == "cut"


# --- Messages: request in -----------------------------------------------------------------------


def test_messages_conversation_with_tools() -> None:
    chat = messages_chat(
        {
            "system": [
                {"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}
            ],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "weather?"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": "iVBORw0KGgo=",
                            },
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Looking."},
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "weather",
                            "input": {"city": "Oslo"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "rain"}],
                        },
                        {"type": "text", "text": "and tomorrow?"},
                    ],
                },
            ],
            "tools": [{"name": "weather", "description": "d", "input_schema": WEATHER}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "stop_sequences": ["END"],
            "top_p": 0.9,
            "metadata": {"user_id": "u1"},
        }
    )
    assert [m.role for m in chat.messages] == ["system", "user", "assistant", "tool", "user"]
    assert chat.messages[0].content == "be brief"
    assert chat.messages[1].content[1].image_url.url.startswith("data:image/png;base64,")
    call = chat.messages[2].tool_calls[0]
    assert (call.id, json.loads(call.function.arguments)) == ("t1", {"city": "Oslo"})
    assert (chat.messages[3].tool_call_id, chat.messages[3].content) == ("t1", "rain")
    assert chat.tool_choice == "required" and chat.parallel_tool_calls is False
    assert chat.tools[0].function.parameters == WEATHER
    assert chat.stop == ["END"] and chat.max_tokens == 50 and chat.user == "u1"


def test_messages_tool_choice_forms() -> None:
    tools = [{"name": "weather", "input_schema": WEATHER}]
    base = {"messages": [{"role": "user", "content": "x"}], "tools": tools}
    assert messages_chat({**base, "tool_choice": {"type": "auto"}}).tool_choice == "auto"
    assert messages_chat({**base, "tool_choice": {"type": "none"}}).tool_choice == "none"
    named = messages_chat({**base, "tool_choice": {"type": "tool", "name": "weather"}})
    assert named.tool_choice.function.name == "weather"


def test_messages_error_results_are_marked() -> None:
    chat = messages_chat(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": "boom",
                            "is_error": True,
                        }
                    ],
                },
            ]
        }
    )
    assert chat.messages[-1].content == "[tool error] boom"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"input": "x"}, "input"),
        ({"max_output_tokens": 5}, "max_tokens"),
        ({"stop": ["x"]}, "stop_sequences"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "web_search_20250305"),
        ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "bash_20250124"),
        ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
        ({"messages": [{"role": "system", "content": "x"}]}, "system"),
        (
            {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
            "document",
        ),
        ({"tool_choice": {"type": "sometimes"}}, "sometimes"),
    ],
)
def test_messages_refuses_by_name(body: dict[str, Any], named: str) -> None:
    error = refusal(messages_chat, {"messages": [{"role": "user", "content": "x"}], **body})
    assert named in error.message


def test_messages_answer_out() -> None:
    calls = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
        }
    ]
    message = messages.from_chat(
        answer({"role": "assistant", "content": "ok", "tool_calls": calls}, "tool_calls")
    )
    assert message["type"] == "message" and message["stop_reason"] == "tool_use"
    assert message["content"] == [
        {"type": "text", "text": "ok"},
        {"type": "tool_use", "id": "c1", "name": "weather", "input": {"city": "Oslo"}},
    ]
    assert message["usage"]["input_tokens"] == 7 and message["usage"]["output_tokens"] == 3
    assert (
        messages.from_chat(answer({"role": "assistant", "content": "a"}, "length"))["stop_reason"]
        == "max_tokens"
    )
    bad = [{"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]
    kept = messages.from_chat(
        answer({"role": "assistant", "content": None, "tool_calls": bad}, "tool_calls")
    )
    assert kept["content"][0]["input"] == {"_arguments": "{not json"}  # kept whole, not lost


@pytest.mark.parametrize(
    ("named", "stops", "expected"),
    [
        ({"stop_reason": "###"}, ["###"], ("stop_sequence", "###")),  # vLLM
        ({"matched_stop": "###"}, ["x", "###"], ("stop_sequence", "###")),  # SGLang
        ({"stop_reason": "###"}, None, ("end_turn", None)),  # not the request's own
        ({"stop_reason": "</s>"}, ["###"], ("end_turn", None)),
        ({"stop_reason": 128009}, ["###"], ("end_turn", None)),  # a stop token's id
        ({}, ["###"], ("end_turn", None)),  # the server does not say: the end of the turn
    ],
)
def test_messages_report_the_stop_sequence_only_when_the_server_names_one(
    named: dict[str, Any], stops: list[str] | None, expected: tuple[str, str | None]
) -> None:
    reply = answer({"role": "assistant", "content": "a"})
    reply["choices"][0].update(named)
    message = messages.from_chat(reply, stops)
    assert (message["stop_reason"], message["stop_sequence"]) == expected


def test_message_stream_event_sequence() -> None:
    renderer = messages.MessageEvents()
    data = b"".join(renderer.chunk(c) for c in TEXT_THEN_CALL)
    data += asyncio.run(renderer.end({"prompt_tokens": 4, "completion_tokens": 6}))
    events = sse(data)
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2][1]["content_block"] == {"type": "text", "text": ""}
    assert events[3][1]["delta"] == {"type": "text_delta", "text": "Hel"}
    assert events[6][1]["index"] == 1 and events[6][1]["content_block"]["type"] == "tool_use"
    partial = "".join(e["delta"]["partial_json"] for _, e in events[7:9])
    assert json.loads(partial) == {"city": "Oslo"}
    assert events[10][1]["delta"]["stop_reason"] == "tool_use"
    assert events[10][1]["usage"]["output_tokens"] == 6


def test_message_stream_failure_is_an_error_event() -> None:
    renderer = messages.MessageEvents()
    data = renderer.chunk(chunk({"content": "x"})) + renderer.failed(UpstreamUnavailable("cut"))
    name, last = sse(data)[-1]
    assert name == "error" and last == {
        "type": "error",
        "error": {"type": "api_error", "message": "cut"},
    }
