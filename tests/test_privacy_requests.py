"""privacy on the canonical chat request: every text it carries is scanned (content parts,
tool-call arguments, tool results), and redaction rewrites exactly those texts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from catalog.snapshot import CatalogSnapshot
from router.core.requests import ChatCompletionIn
from router.pipeline.chat_privacy import (
    RedactingPrepare,
    chat_texts,
    restore_answer,
    restore_stream,
)
from router.privacy.check import check
from router.routing.decision import Candidate

pytestmark = pytest.mark.anyio

EMAIL = "ana.silva@sapo.pt"
CARD = "4539 5787 6362 1486"


def agent_request() -> ChatCompletionIn:
    return ChatCompletionIn.model_validate(
        {
            "model": "auto",
            "messages": [
                {"role": "system", "content": "You are a billing assistant."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": f"Refund card {CARD}."},
                        {"type": "image_url", "image_url": {"url": "https://img.test/a.png"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "lookup_customer",
                                "arguments": json.dumps({"email": EMAIL}),
                            },
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_1",
                    "content": '{"phone": "+44 7911 123456", "plan": "pro"}',
                },
            ],
        }
    )


def test_every_text_of_the_request_is_scanned() -> None:
    body = agent_request()
    privacy = check("auto", chat_texts(body))
    assert privacy is not None
    assert privacy.findings.counts() == {"email": 1, "phone": 1, "payment_card": 1}
    assert privacy.keeps_local
    assert {f.text for f in privacy.findings} == {1, 2, 3}  # part, tool arguments, tool result
    assert check("any", chat_texts(body)) is None
    assert check("local_only", chat_texts(body)) is None


def test_hosted_deployments_get_placeholders_local_ones_the_request(
    snapshot: CatalogSnapshot,
) -> None:
    body = agent_request()
    privacy = check("redact", chat_texts(body))
    assert privacy is not None and privacy.redacts and not privacy.keeps_local
    prepare = RedactingPrepare(privacy.redaction())
    hosted, local = _candidates(snapshot)
    sent = prepare(hosted, body)
    assert prepare(local, body) is body
    texts = dict(sent.texts())
    assert texts["messages.1.content.0.text"] == "Refund card <PAYMENT_CARD_1>."
    assert json.loads(texts["messages.2.tool_calls.0.function.arguments"]) == {"email": "<EMAIL_1>"}
    assert texts["messages.3.content"] == '{"phone": "<PHONE_1>", "plan": "pro"}'
    assert dict(body.texts())["messages.1.content.0.text"] == f"Refund card {CARD}."  # untouched
    assert sent.messages[1].content[1].type == "image_url"  # type: ignore[index,union-attr]

    answer: dict[str, Any] = {
        "choices": [
            {
                "message": {
                    "content": "Refunded <PAYMENT_CARD_1>.",
                    "tool_calls": [
                        {"function": {"name": "mail", "arguments": '{"to": "<EMAIL_1>"}'}}
                    ],
                }
            }
        ]
    }
    restore_answer(answer, prepare.redaction)
    message = answer["choices"][0]["message"]
    assert message["content"] == f"Refunded {CARD}."
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"to": EMAIL}


async def test_streamed_content_and_tool_arguments_are_restored() -> None:
    privacy = check("redact", chat_texts(agent_request()))
    assert privacy is not None
    redaction = privacy.redaction()
    content = "Done: <PAYMENT_CARD_1> and <EMA"
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": content[i : i + 4]}}]}
        for i in range(0, len(content), 4)
    ]
    arguments = '{"to": "<EMAIL_1>"}'
    chunks += [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "function": {"arguments": arguments[i : i + 5]}}
                        ]
                    },
                }
            ]
        }
        for i in range(0, len(arguments), 5)
    ]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})

    async def upstream() -> AsyncIterator[dict[str, Any]]:
        for chunk in chunks[1:]:
            yield chunk

    first, rest = await restore_stream(chunks[0], upstream(), redaction)
    out = [first] + [chunk async for chunk in rest]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in out)
    args = "".join(
        call["function"]["arguments"]
        for c in out
        for call in c["choices"][0]["delta"].get("tool_calls") or []
    )
    assert text == f"Done: {CARD} and <EMA"
    assert json.loads(args) == {"to": EMAIL}


def _candidates(snapshot: CatalogSnapshot) -> tuple[Candidate, Candidate]:
    from catalog.terms import Privacy, Verdict

    found: dict[Privacy, Candidate] = {}
    for model in snapshot.models.values():
        for d in model.deployments:
            found.setdefault(
                d.privacy,
                Candidate(d, model, 0.5, "", "", 0.0, 0.0, Verdict.ALLOWED, (), (0.0, 0.0, 0.0)),
            )
    return found[Privacy.EXTERNAL], found[Privacy.LOCAL]
