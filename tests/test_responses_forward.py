"""/v1/responses forwarded as is to a server that speaks the Responses API (a deployment with
`responses_api`), and GET /v1/responses/{id}/input_items: the unmodified openai SDK against
a real modelyard process and the fault upstream's recording Responses server
(tests/responses_upstream.py), with the ledger read from the real database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import select

from catalog.capabilities import hosted_capabilities
from router.accounts.orm import UsageRecord
from tests.conftest import echo_deployment, prepare_database, start_gateway
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.settings import Settings

FORWARDED = "mistral-7b-instruct"  # served only by the Responses server
FORWARDED_ID = "mistralai/Mistral-7B-Instruct-v0.2"
FALLBACK = "phi-2"  # a broken Responses server first, then a chat-only one
CUT = "HuggingFaceTB/SmolLM2-1.7B-Instruct"  # a Responses server that drops the connection
ELSEWHERE = "Qwen/Qwen2.5-7B-Instruct"  # a Responses server off our machines (privacy external)
CARD, EMAIL = "4539 5787 6362 1486", "maria.gonzalez84@gmail.com"


@dataclass
class Setup:
    server: ServerProcess
    upstream: ServerProcess
    keys: dict[str, str]
    url: str

    def client(self, key: str = "app") -> OpenAI:
        return OpenAI(base_url=f"{self.server.base_url}/v1", api_key=self.keys[key], max_retries=0)

    def forwarded(self, tag: str = "fwd") -> list[dict[str, Any]]:
        """Every body the Responses server got under `tag`, as it arrived."""
        return list(httpx.get(f"{self.upstream.base_url}/responses/recorded/{tag}").json())

    def chat_bodies(self, tag: str) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.upstream.base_url}/recorded/{tag}").json())

    def ledger_row(self, route_id: str) -> UsageRecord:
        engine, factory = session_factory_for(Settings(database_url=self.url))
        try:
            for _ in range(50):
                with factory() as session:
                    row = session.scalar(
                        select(UsageRecord).where(UsageRecord.route_id == route_id)
                    )
                    if row is not None:
                        session.expunge(row)
                        return row
                time.sleep(0.1)
        finally:
            engine.dispose()
        raise AssertionError(f"no ledger row for {route_id}")


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, fault_upstream: ServerProcess
) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("responses-forward")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    base = fault_upstream.base_url
    deployments = [
        {
            "name": "test/responder",
            "model": FORWARDED,
            "base_url": f"{base}/fwd/v1",
            "served_name": "responder",
            "capabilities": ["responses_api", "tools"],
            "input_cost_per_token": 1e-9,
            "output_cost_per_token": 2e-9,
        },
        {
            "name": "test/responder-down",
            "model": FALLBACK,
            "base_url": f"{base}/down/v1",
            "served_name": "responder-down",
            "capabilities": ["responses_api"],
        },
        echo_deployment(
            fault_upstream,
            base_url=f"{base}/chat-only/v1",
            input_cost_per_token=1e-9,
            output_cost_per_token=1e-9,
        ),
        {
            "name": "test/responder-cut",
            "model": CUT,
            "base_url": f"{base}/cut/v1",
            "served_name": "responder-cut",
            "capabilities": ["responses_api"],
        },
    ]
    deployments.append(
        {
            "name": "test/responder-elsewhere",
            "model": ELSEWHERE,
            "base_url": f"{base}/elsewhere/v1",
            "served_name": "responder",
            "privacy": "external",
            "capabilities": ["responses_api"],
        }
    )
    keys = prepare_database(
        url,
        folder,
        deployments,
        api_keys={"app": {}, "other": {}, "redactor": {"privacy": "redact"}},
    )
    server = start_gateway(folder, {"MODELYARD_DATABASE_URL": url})
    yield Setup(server, fault_upstream, keys, url)
    server.stop()


def test_a_response_is_forwarded_as_is_and_routed_priced_and_recorded(setup: Setup) -> None:
    before = len(setup.forwarded())
    raw = setup.client().responses.with_raw_response.create(
        model=FORWARDED,
        input="ping pong",
        instructions="answer briefly",
        max_output_tokens=50,
        temperature=0.3,
        metadata={"team": "a"},
        store=False,
    )
    response = raw.parse()
    (sent,) = setup.forwarded()[before:]
    # The client's body, with only the model replaced (and `store: false`, as it was here).
    assert sent == {
        "model": "responder",
        "input": "ping pong",
        "instructions": "answer briefly",
        "max_output_tokens": 50,
        "temperature": 0.3,
        "metadata": {"team": "a"},
        "store": False,
        "stream": False,
    }
    # The server's answer, with the catalog's model id.
    assert response.id.startswith("resp_up") and response.output[0].id == "msg_up1"
    assert response.output_text == "echo: ping pong" and response.model == FORWARDED_ID
    assert response.usage is not None and response.usage.input_tokens == 7
    assert raw.headers["x-modelyard-deployment"] == "test/responder"
    assert float(raw.headers["x-modelyard-cost-usd"]) == pytest.approx(7e-9 + 3 * 2e-9)
    row = setup.ledger_row(raw.headers["x-modelyard-route-id"])
    assert (row.deployment_name, row.input_tokens, row.output_tokens) == ("test/responder", 7, 3)
    assert (row.status, row.stream) == ("ok", False)
    assert float(row.cost_usd) == pytest.approx(7e-9 + 3 * 2e-9)


def test_a_stream_is_forwarded_event_for_event(setup: Setup) -> None:
    before = len(setup.forwarded())
    with setup.client().responses.with_streaming_response.create(
        model=FORWARDED, input="a b c", stream=True, store=False
    ) as raw:
        route_id = raw.headers["x-modelyard-route-id"]
        events = list(raw.parse())
    (sent,) = setup.forwarded()[before:]
    assert sent == {"model": "responder", "input": "a b c", "store": False, "stream": True}
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas == ["echo:", " a", " b", " c"]  # the server's own pieces
    final = events[-1].response
    assert final.id.startswith("resp_up") and final.model == FORWARDED_ID
    assert events[0].response.model == FORWARDED_ID
    assert final.output_text == "echo: a b c" and final.usage is not None
    row = setup.ledger_row(route_id)
    assert (row.input_tokens, row.output_tokens, row.stream) == (7, 4, True)


def test_stored_forwarded_responses_are_continued_here(setup: Setup) -> None:
    """modelyard keeps the conversation: the server gets `store: false` and the stored turns
    as input items in place of `previous_response_id`."""
    client = setup.client()
    first = client.responses.create(model=FORWARDED, input="one")
    assert first.store is True and first.previous_response_id is None  # as asked
    before = len(setup.forwarded())
    second = client.responses.create(model=FORWARDED, input="two", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.store is True
    (sent,) = setup.forwarded()[before:]
    assert "previous_response_id" not in sent and sent["store"] is False
    assert sent["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one"}]},
        {"type": "message", "role": "assistant", "content": "echo: one"},
        {"type": "message", "role": "user", "content": "two"},
    ]
    stream = client.responses.create(
        model=FORWARDED, input="three", previous_response_id=second.id, stream=True
    )
    final = next(e for e in stream if e.type == "response.completed").response
    assert final.previous_response_id == second.id
    assert len(setup.forwarded()[-1]["input"]) == 5
    assert client.responses.retrieve(final.id).output_text == "echo: three"
    with pytest.raises(openai.NotFoundError):
        setup.client("other").responses.retrieve(final.id)


def test_a_failing_responses_server_falls_back_to_the_chat_translation(setup: Setup) -> None:
    before = len(setup.chat_bodies("chat-only"))
    raw = setup.client().responses.with_raw_response.create(
        model=FALLBACK, input="hello", store=False
    )
    response = raw.parse()
    assert raw.headers["x-modelyard-deployment"] == "test/phi-2-echo"
    assert raw.headers["x-modelyard-attempts"] == "2"
    assert setup.forwarded("down")[-1]["model"] == "responder-down"  # tried first, as is
    (chat,) = setup.chat_bodies("chat-only")[before:]
    assert chat["messages"] == [{"role": "user", "content": "hello"}]  # then translated
    assert response.output_text == "echo: hello" and response.id.startswith("resp_")


def test_a_forwarded_stream_cut_midway_ends_failed_and_is_recorded(setup: Setup) -> None:
    with setup.client().responses.with_streaming_response.create(
        model=CUT, input="w1 w2 w3 w4", stream=True, store=False
    ) as raw:
        route_id = raw.headers["x-modelyard-route-id"]
        events = list(raw.parse())
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and "response.output_text.delta" in kinds
    assert kinds[-1] == "response.failed"
    assert events[-1].sequence_number == events[-2].sequence_number + 1
    row = setup.ledger_row(route_id)
    deltas = kinds.count("response.output_text.delta")
    assert (row.status, row.output_tokens) == ("partial", deltas)  # a token per delta


def test_input_items_list_a_stored_response_s_own_input(setup: Setup) -> None:
    client = setup.client()
    first = client.responses.create(model=FORWARDED, input="not listed later", store=True)
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "look"}]},
        {"type": "function_call", "call_id": "call_1", "name": "see", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "a cat"},
        {"role": "user", "content": "and now?"},
    ]
    response = client.responses.create(
        model=FORWARDED,
        input=items,
        previous_response_id=first.id,  # type: ignore[arg-type]
    )
    listed = list(client.responses.input_items.list(response.id, order="asc"))
    assert [i.type for i in listed] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert listed[0].content[0].text == "look"  # type: ignore[union-attr]
    assert listed[1].call_id == "call_1" and listed[2].output == "a cat"  # type: ignore[union-attr]
    newest_first = client.responses.input_items.list(response.id)
    assert [i.id for i in newest_first.data] == [i.id for i in reversed(listed)]

    page = client.responses.input_items.list(response.id, order="asc", limit=3)
    assert len(page.data) == 3 and page.has_more is True
    assert page.first_id == listed[0].id and page.last_id == listed[2].id  # type: ignore[attr-defined]
    assert [i.id for i in page] == [i.id for i in listed]  # the SDK pages on with `after`
    rest = client.responses.input_items.list(response.id, order="asc", after=listed[2].id)
    assert [i.id for i in rest.data] == [listed[3].id] and rest.has_more is False

    with pytest.raises(openai.NotFoundError):
        setup.client("other").responses.input_items.list(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_unknown")
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.input_items.list(response.id, after="msg_nope")
    assert bad.value.param == "after" and "msg_nope" in bad.value.message


def test_under_redact_a_server_off_our_machines_gets_placeholders_by_the_chat_path(
    setup: Setup,
) -> None:
    """The Responses body is the client's own text: it is never forwarded where privacy
    redact sends placeholders. The chat translation, redacted, goes instead."""
    prompt = f"Refund card {CARD} and confirm to {EMAIL}."
    raw = setup.client("redactor").responses.with_raw_response.create(
        model=ELSEWHERE, input=prompt, store=False
    )
    assert raw.headers["x-modelyard-deployment"] == "test/responder-elsewhere"
    assert raw.headers["x-modelyard-redacted"] == "2"
    assert raw.parse().output_text == f"echo: {prompt}"  # restored here
    assert setup.forwarded("elsewhere") == []  # nothing went as is
    (sent,) = setup.chat_bodies("elsewhere")
    assert sent["messages"][-1]["content"] == (
        "Refund card <PAYMENT_CARD_1> and confirm to <EMAIL_1>."
    )
    # Without findings the same deployment is sent the request as is.
    setup.client("redactor").responses.create(model=ELSEWHERE, input="plain words", store=False)
    assert setup.forwarded("elsewhere")[-1]["input"] == "plain words"


def test_a_cached_forwarded_answer_is_another_stored_response(setup: Setup) -> None:
    client = setup.client()
    cached = {"x-route-cache-ttl-seconds": "60"}
    before = len(setup.forwarded())
    first = client.responses.with_raw_response.create(
        model=FORWARDED, input="cache me", extra_headers=cached
    )
    again = client.responses.with_raw_response.create(
        model=FORWARDED, input="cache me", extra_headers=cached
    )
    assert again.headers["x-modelyard-cache"] == "hit"
    assert len(setup.forwarded()) == before + 1  # the server answered once
    one, two = first.parse(), again.parse()
    assert one.id != two.id and two.output_text == one.output_text == "echo: cache me"
    assert client.responses.retrieve(two.id).output_text == "echo: cache me"
    assert client.responses.retrieve(one.id).id == one.id


def test_a_stream_falls_back_to_the_translation_and_the_dry_run_says_who_forwards(
    setup: Setup,
) -> None:
    with setup.client().responses.with_streaming_response.create(
        model=FALLBACK, input="x y", stream=True, store=False
    ) as raw:
        assert raw.headers["x-modelyard-deployment"] == "test/phi-2-echo"
        events = list(raw.parse())
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text.strip() == "echo: x y"
    assert events[-1].response.id.startswith("resp_") and "_up" not in events[-1].response.id

    route = httpx.post(
        f"{setup.server.base_url}/v1/responses/route",
        json={"model": FORWARDED, "input": "x"},
        headers={"Authorization": f"Bearer {setup.keys['app']}"},
    ).json()
    assert [c["deployment"] for c in route["candidates"]] == ["test/responder"]
    assert route["forwarded_as_is"] == ["test/responder"]
    assert route["chat_request"]["messages"] == [{"role": "user", "content": "x"}]


def test_hosted_deployments_take_responses_api_from_litellm_s_map() -> None:
    assert "responses_api" in hosted_capabilities("openai/gpt-4.1-mini")  # the bundled map
    assert "responses_api" not in hosted_capabilities("groq/llama-3.1-8b-instant")
    table = {"x": {"supported_endpoints": ["/v1/chat/completions"]}}
    assert "responses_api" not in hosted_capabilities("x", table)
    table = {"x": {"supported_endpoints": ["/v1/chat/completions", "/v1/responses"]}}
    assert "responses_api" in hosted_capabilities("x", table)
