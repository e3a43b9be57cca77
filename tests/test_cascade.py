"""strategy "cascade": the embedded SmolLM2 (real llama.cpp) is the cheap first candidate, the
fault upstream's recording `agent` model the dearer next one. The cascade escalates exactly when
the cheap answer fails its check, and every answer it paid for is in the ledger."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.schemas import ChatRequest
from router.pipeline.cascade import check
from tests.conftest import prepare_database, start_gateway
from tests.servers import ServerProcess

EMBEDDED = "embedded/smollm2-135m-instruct"
AGENT = "test/cascade-agent"
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@dataclass
class Stack:
    server: ServerProcess
    upstream: ServerProcess
    database: Path
    key: str

    def post(self, body: dict[str, Any]) -> httpx.Response:
        body = {"model": "auto", "temperature": 0, "seed": 11, **body}
        body["route"] = {"strategy": "cascade", **body.get("route", {})}
        return httpx.post(
            f"{self.server.base_url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=120,
        )

    def forwarded(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.upstream.base_url}/recorded/cascade", timeout=10)
        return list(answer.json())

    def ledger(self, route_id: str) -> list[tuple[str, str, str, float, str | None]]:
        """The records of a request and its escalations, waiting for the ledger's flush."""
        deadline = time.monotonic() + 10
        while True:
            with sqlite3.connect(self.database) as db:
                rows = db.execute(
                    "SELECT route_id, deployment_name, status, cost_usd, error FROM usage_records"
                    " WHERE route_id = ? OR route_id LIKE ? ORDER BY route_id",
                    (route_id, f"{route_id}-%"),
                ).fetchall()
            if any(r[0] == route_id for r in rows) or time.monotonic() > deadline:
                return [(r[0], r[1], r[2], float(r[3]), r[4]) for r in rows]
            time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, fault_upstream: ServerProcess
) -> Iterator[Stack]:
    folder: Path = tmp_path_factory.mktemp("cascade")
    database = folder / "modelyard.db"
    url = f"sqlite:///{database}"
    agent = {
        "name": AGENT,
        "model": "mistralai/Mistral-7B-Instruct-v0.2",
        "base_url": f"{fault_upstream.base_url}/cascade/v1",  # recorded under the tag
        "served_name": "agent",
        "capabilities": ["tools", "tool_choice", "json_mode", "json_schema"],
        # Dearer than the embedded model (free), so the cascade starts at the embedded one.
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 2e-6,
    }
    secrets = prepare_database(url, folder, [agent], {"app": {}})
    # No default need: a stated-need-free auto request ranks by cost alone.
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_AUTO_NEED": "none"}
    server = start_gateway(folder, env)
    yield Stack(server, fault_upstream, database, secrets["app"])
    server.stop()


def person(max_tokens: int) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": "Ada Lovelace is 36. Give her as JSON."}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON, "strict": True},
        },
        "max_tokens": max_tokens,
    }


def test_a_passing_cheap_answer_is_returned_and_nothing_escalates(stack: Stack) -> None:
    before = len(stack.forwarded())
    answer = stack.post(person(60))
    assert answer.status_code == 200, answer.text
    headers = answer.headers
    assert headers["x-modelyard-deployment"] == EMBEDDED
    assert headers["x-modelyard-cascade"] == f"{EMBEDDED}=passed"
    assert headers["x-modelyard-attempts"] == "1"
    assert check(ChatRequest.model_validate(person(60)), answer.json(), 0.0).passed
    assert len(stack.forwarded()) == before  # the dearer model was never asked
    rows = stack.ledger(headers["x-modelyard-route-id"])
    assert [(r[1], r[2]) for r in rows] == [(EMBEDDED, "ok")]


def test_a_cut_json_answer_escalates_once_and_both_are_paid_for(stack: Stack) -> None:
    before = len(stack.forwarded())
    # Eight tokens cannot hold the object: the embedded model's JSON is cut short.
    answer = stack.post(person(8))
    assert answer.status_code == 200, answer.text
    headers = answer.headers
    assert headers["x-modelyard-deployment"] == AGENT
    assert headers["x-modelyard-cascade"] == f"{EMBEDDED}=escalated:json_schema, {AGENT}=passed"
    assert headers["x-modelyard-attempts"] == "2"
    forwarded = stack.forwarded()[before:]
    assert len(forwarded) == 1 and forwarded[0]["response_format"]["type"] == "json_schema"
    route_id = headers["x-modelyard-route-id"]
    rows = stack.ledger(route_id)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (route_id, AGENT, "ok"),
        (f"{route_id}-1", EMBEDDED, "escalated"),
    ]
    assert rows[1][4] is not None and rows[1][4].startswith("json_schema: not JSON")
    assert rows[0][3] > 0  # the agent's tokens are priced; the embedded model's are free
    assert float(headers["x-modelyard-cost-usd"]) == pytest.approx(rows[0][3] + rows[1][3])


def test_tool_arguments_escalate_only_when_they_fail(stack: Stack) -> None:
    ask = {
        "messages": [{"role": "user", "content": "What is the weather in Oslo?"}],
        "tools": [WEATHER],
        "tool_choice": "required",
    }
    whole = stack.post({**ask, "max_tokens": 60})
    assert whole.status_code == 200, whole.text
    assert whole.headers["x-modelyard-cascade"] == f"{EMBEDDED}=passed"
    assert whole.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == (
        "get_weather"
    )
    before = len(stack.forwarded())
    # Ten tokens hold `functions.get_weather:` and the start of its arguments, not their end.
    cut = stack.post({**ask, "max_tokens": 10})
    assert cut.status_code == 200, cut.text
    assert cut.headers["x-modelyard-cascade"] == (
        f"{EMBEDDED}=escalated:tool_arguments, {AGENT}=passed"
    )
    assert len(stack.forwarded()) == before + 1
    assert cut.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == (
        '{"city": "text"}'
    )
    # Three tokens do not even finish naming the function: no call and no text.
    bare = stack.post({**ask, "max_tokens": 3})
    assert bare.headers["x-modelyard-cascade"] == f"{EMBEDDED}=escalated:empty, {AGENT}=passed"
    assert len(stack.forwarded()) == before + 2


def test_when_no_answer_passes_the_last_is_returned_and_says_so(stack: Stack) -> None:
    # The agent echoes the question, so its answer declines as the question does.
    body = {
        "messages": [{"role": "user", "content": "I'm sorry, but I can't help with that."}],
        "route": {"models": ["mistralai/Mistral-7B-Instruct-v0.2"]},
        "max_tokens": 20,
    }
    answer = stack.post(body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-modelyard-cascade"] == f"{AGENT}=failed:refusal"
    assert answer.json()["choices"][0]["message"]["content"].startswith("echo: I'm sorry")
    rows = stack.ledger(answer.headers["x-modelyard-route-id"])
    assert [(r[1], r[2]) for r in rows] == [(AGENT, "ok")]
    assert rows[0][4] is not None and rows[0][4].startswith("cascade check failed: refusal")


def test_a_streamed_cascade_is_refused_by_name(stack: Stack) -> None:
    before = len(stack.forwarded())
    refused = stack.post({**person(60), "stream": True})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "stream"
    assert "cascade" in refused.json()["error"]["message"]
    # The same from a header, on a request that names no strategy itself.
    by_header = httpx.post(
        f"{stack.server.base_url}/v1/chat/completions",
        json={**person(60), "model": "auto", "stream": True},
        headers={"Authorization": f"Bearer {stack.key}", "X-Route-Strategy": "cascade"},
        timeout=30,
    )
    assert by_header.status_code == 400 and by_header.json()["error"]["param"] == "stream"
    assert len(stack.forwarded()) == before


# --- the checks on their own ---------------------------------------------------------------------


def answer(message: dict[str, Any], **choice: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop", **choice}]}


def request(**body: Any) -> ChatRequest:
    return ChatRequest.model_validate({"messages": [{"role": "user", "content": "hi"}], **body})


@pytest.mark.parametrize(
    ("body", "message", "failed"),
    [
        ({}, {"content": "Paris."}, None),
        ({}, {"content": "  "}, "empty"),
        ({}, {"content": None, "refusal": "I will not"}, "refusal"),
        ({}, {"content": "I'm sorry, but I can't help with that."}, "refusal"),
        ({}, {"content": "Sorry for the wait: the answer is 4."}, None),
        ({}, {"content": "I cannot stress this enough: drink water."}, None),
        ({}, {"content": "As an AI, I am unable to assist with this request."}, "refusal"),
        ({"response_format": {"type": "json_object"}}, {"content": "[1, 2]"}, "json_object"),
        ({"response_format": {"type": "json_object"}}, {"content": '{"a": 1}'}, None),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "p", "schema": PERSON},
                }
            },
            {"content": '{"name": "Ada", "age": "36"}'},
            "json_schema",
        ),
        (
            {"tools": [WEATHER]},
            {
                "content": None,
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"town": "Oslo"}'},
                    }
                ],
            },
            "tool_arguments",
        ),
        (
            {"tools": [WEATHER]},
            {
                "content": None,
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    }
                ],
            },
            "tool_arguments",
        ),
        (
            {"tools": [WEATHER], "tool_choice": "required"},
            {"content": "It is sunny."},
            "tool_choice",
        ),
        ({"tools": [WEATHER]}, {"content": "It is sunny."}, None),
    ],
)
def test_each_check(body: dict[str, Any], message: dict[str, Any], failed: str | None) -> None:
    verdict = check(request(**body), answer(message), 0.0)
    assert verdict.passed is (failed is None)
    assert verdict.check == (failed or "")


def test_the_confidence_threshold_applies_where_logprobs_came_back() -> None:
    sure = {"content": [{"token": "a", "logprob": -0.05}, {"token": "b", "logprob": -0.1}]}
    unsure = {"content": [{"token": "a", "logprob": -2.0}, {"token": "b", "logprob": -3.0}]}
    text = {"content": "ab"}
    assert check(request(), answer(text, logprobs=sure), 0.5).passed
    low = check(request(), answer(text, logprobs=unsure), 0.5)
    assert not low.passed and low.check == "low_confidence"
    assert check(request(), answer(text, logprobs=unsure), 0.0).passed  # 0: the check is off
    assert check(request(), answer(text), 0.5).passed  # no logprobs: nothing to judge
