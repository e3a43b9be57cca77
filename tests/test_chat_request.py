"""The canonical chat request (adapters/schemas.py): what it needs of a deployment, every text
it carries, what it forwards, and the cache key it makes. Pure: no server, no model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.schemas import ChatRequest, unsupported
from catalog.snapshot import CatalogSnapshot
from router.core.requests import ChatCompletionIn, CompletionIn, RouteControls
from router.state.response_cache import cache_key

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Looks a word up",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
    },
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"word": "fox"}'},
}
AGENT_TURNS = [
    {"role": "system", "content": "Be brief."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Define fox. "},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ],
    },
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "a small wild canine"},
]


def request(**fields: Any) -> ChatCompletionIn:
    return ChatCompletionIn.model_validate(
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **fields}
    )


@pytest.mark.parametrize(
    ("fields", "needs"),
    [
        ({}, set()),
        ({"tools": [TOOL]}, {"tools"}),
        ({"tools": [TOOL], "tool_choice": "none"}, set()),
        (
            {"tools": [TOOL], "tool_choice": "required", "parallel_tool_calls": True},
            {"tools", "tool_choice", "parallel_tools"},
        ),
        ({"tools": [TOOL], "parallel_tool_calls": False}, {"tools"}),
        ({"response_format": {"type": "json_object"}}, {"json_mode"}),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "a", "schema": {}},
                }
            },
            {"json_schema"},
        ),
        ({"response_format": {"type": "text"}}, set()),
        ({"logprobs": True, "top_logprobs": 3}, {"logprobs"}),
        ({"logprobs": False}, set()),
        ({"n": 1}, set()),
        ({"n": 4}, {"n"}),
        ({"messages": AGENT_TURNS}, {"tools", "vision"}),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "input_audio",
                                "input_audio": {"data": "AAAA", "format": "wav"},
                            }
                        ],
                    }
                ]
            },
            {"audio"},
        ),
    ],
)
def test_needs(fields: dict[str, Any], needs: set[str]) -> None:
    assert request(**fields).needs() == needs


def test_every_text_with_its_place() -> None:
    body = request(
        messages=[
            *AGENT_TURNS,
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        ]
    )
    assert list(body.texts()) == [
        ("messages.0.content", "Be brief."),
        ("messages.1.content.0.text", "Define fox. "),
        ("messages.2.tool_calls.0.function.arguments", '{"word": "fox"}'),
        ("messages.3.content", "a small wild canine"),
        ("messages.4.content.0.refusal", "no"),
    ]
    assert "Define fox." in body.prompt_text() and '{"word": "fox"}' in body.prompt_text()
    tools = request(tools=[TOOL])
    assert [where for where, _ in tools.tool_texts()] == ["tools.0.function"]
    assert "Looks a word up" in next(tools.tool_texts())[1]


def test_tool_schemas_and_images_count_toward_the_estimate() -> None:
    assert request().extra_prompt_tokens() == 0
    assert (
        request(tools=[TOOL] * 3).extra_prompt_tokens()
        > request(tools=[TOOL]).extra_prompt_tokens()
        > 10
    )
    assert request(messages=AGENT_TURNS).extra_prompt_tokens() == 765


def test_the_body_forwarded_is_the_body_sent() -> None:
    sent = {
        "model": "auto",
        "messages": AGENT_TURNS,
        "tools": [{**TOOL, "function": {**TOOL["function"], "strict": True}}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "a", "schema": {"type": "object"}, "strict": True},
        },
        "logit_bias": {"12": -5},
        "future_field": [1, {"x": None}],
        "stream_options": {"include_usage": False, "include_obfuscation": False},
        "route": {"privacy": "local_only"},
    }
    expected = {k: v for k, v in sent.items() if k not in ("route", "stream_options")}
    # From its fields, and from the client's own JSON (the fast path's way): the same body.
    for body in (
        ChatCompletionIn.model_validate(sent),
        ChatCompletionIn.from_json(json.dumps(sent).encode()),
    ):
        forwarded = body.openai_body("served", stream=False)
        assert forwarded == {**expected, "model": "served", "stream": False}
        streamed = body.openai_body("served", stream=True)
        assert streamed["stream_options"] == {"include_usage": True, "include_obfuscation": False}
        assert next(iter(body.tool_texts()))[1].startswith('{"name":"lookup"')


def test_a_changed_copy_forwards_its_change_not_the_json_it_came_from() -> None:
    # The privacy rule sends hosted deployments a redacted deep copy: the client's JSON,
    # which the original keeps for speed, must never stand in for the copy's fields.
    raw = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "a@b.io"}]})
    original = ChatCompletionIn.from_json(raw.encode())
    redacted = original.model_copy(deep=True)
    redacted.messages[0].content = "[EMAIL_1]"
    assert redacted.openai_body("x", stream=False)["messages"][0]["content"] == "[EMAIL_1]"
    assert original.openai_body("x", stream=False)["messages"][0]["content"] == "a@b.io"


def test_completions_become_chat_without_inventing_fields() -> None:
    chat = CompletionIn.model_validate(
        {"model": "phi-2", "prompt": "Once", "temperature": 0.2}
    ).as_chat()
    assert chat.openai_body("m", stream=False) == {
        "model": "m",
        "messages": [{"role": "user", "content": "Once"}],
        "stream": False,
        "temperature": 0.2,
    }


def test_unsupported_names_the_first_parameter_that_matters() -> None:
    takes = frozenset({"temperature"})
    assert unsupported(request(temperature=0.5, n=1, logprobs=False), takes) is None
    assert unsupported(request(temperature=0.5, seed=3), takes) == "seed"
    assert unsupported(request(vendor_knob=1), takes) == "vendor_knob"
    assert unsupported(ChatRequest(messages=[{"role": "user", "content": "x"}]), takes) is None


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"messages": [{"role": "user", "content": None}]}, ("messages", 0, "content")),
        (
            {"messages": [{"role": "user", "content": "x", "tool_calls": [CALL]}]},
            ("messages", 0, "tool_calls"),
        ),
        ({"tools": [TOOL], "tool_choice": "required", "top_logprobs": 2}, ("top_logprobs",)),
        ({"tool_choice": "required"}, ("tool_choice",)),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:text/html;base64,AA"}}
                        ],
                    }
                ]
            },
            ("messages", 0, "content"),
        ),
        ({"reasoning_effort": "extreme"}, ("reasoning_effort",)),
    ],
)
def test_invalid_requests_name_the_place(fields: dict[str, Any], param: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as invalid:
        request(**fields)
    locations = [tuple(e["loc"])[: len(param)] for e in invalid.value.errors()]
    assert param in locations


def test_the_cache_key_covers_what_changes_the_answer(snapshot: CatalogSnapshot) -> None:
    controls = RouteControls()

    def key(**fields: Any) -> str:
        return cache_key(1, request(**fields), controls, snapshot)

    plain = key()
    assert key(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]) == plain
    assert key(user="someone", metadata={"a": "b"}) == plain  # bookkeeping only
    different = [
        key(tools=[TOOL]),
        key(response_format={"type": "json_object"}),
        key(logprobs=True),
        key(n=2),
        key(presence_penalty=1.0),
        key(logit_bias={"1": 2}),
        key(vendor_knob=3),
        key(messages=AGENT_TURNS),
    ]
    assert len({plain, *different}) == len(different) + 1
