"""The OpenAI-compatible endpoint end to end: the official `openai` SDK (sync and async) against
a real modelyard process, routing to the embedded model, a real llama.cpp server and a
fault-injecting upstream."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from catalog import service
from catalog.db import transaction
from catalog.schemas import DeploymentIn
from router.accounts import keys
from tests.conftest import free_port, migrate, seed
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.settings import Settings


@dataclass
class Gateway:
    server: ServerProcess
    admin: str
    user: str
    settings: Settings

    def client(self, key: str | None = None) -> OpenAI:
        return OpenAI(
            base_url=f"{self.server.base_url}/v1", api_key=key or self.user, max_retries=0
        )

    def post(
        self, path: str, body: object, key: str | None = None, **headers: str
    ) -> httpx.Response:
        return httpx.post(
            self.server.base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {key or self.user}", **headers},
            timeout=60,
        )


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
    fault_upstream: ServerProcess,
    llama_server: ServerProcess,
) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("gateway")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    migrate(url)
    settings = Settings(database_url=url, data_dir=folder)
    engine, factory = session_factory_for(settings)
    seed(factory)
    upstream = f"{fault_upstream.base_url}/v1"
    with transaction(factory) as session:
        for spec in (
            # phi-2: a free deployment that always fails, then a cheap one that answers.
            {"name": "test/phi-2-broken", "model": "phi-2", "served_name": "server-error"},
            {
                "name": "test/phi-2-echo",
                "model": "phi-2",
                "served_name": "echo",
                "input_cost_per_token": 1e-9,
                "output_cost_per_token": 2e-9,
            },
            # Mistral instruct: a stream that is cut after a few tokens.
            {"name": "test/mistral-cut", "model": "mistral-7b-instruct", "served_name": "cut"},
            # Phi-3 mini: a server that refuses every request as a bad one (priced, as below).
            {
                "name": "test/phi-3-refuses",
                "model": "phi-3-mini",
                "served_name": "bad-request",
                "input_cost_per_token": 1e-9,
                "output_cost_per_token": 1e-9,
            },
            # Qwen 2.5 7B: a stream of 200 words, one every 50 ms; priced, so `auto` goes to
            # the free embedded model rather than here.
            {
                "name": "test/qwen-slow",
                "model": "Qwen/Qwen2.5-7B-Instruct",
                "served_name": "slow-stream",
                "input_cost_per_token": 1e-9,
                "output_cost_per_token": 1e-9,
            },
        ):
            service.add_deployment(
                session,
                DeploymentIn.model_validate({"kind": "local", "base_url": upstream, **spec}),
            )
        service.add_deployment(
            session,
            DeploymentIn(
                name="test/llama-server",
                model="HuggingFaceTB/SmolLM2-1.7B-Instruct",
                kind="local",
                base_url=f"{llama_server.base_url}/v1",  # type: ignore[arg-type]
                served_name="smollm2",
            ),
        )
        _, admin = keys.create_key(session, "ops", admin=True)
        _, user = keys.create_key(session, "app", policy={"reference_model": "llama-2-70b-chat"})
    engine.dispose()
    port = free_port()
    server = ServerProcess(
        ["-m", "web", "serve", "--port", str(port)],
        port,
        "/readyz",
        folder / "modelyard.log",
        env={"MODELYARD_DATABASE_URL": url},
    )
    yield Gateway(server, admin, user, settings)
    server.stop()


def test_sdk_chat_falls_back_and_explains_itself(gateway: Gateway) -> None:
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="phi-2", messages=[{"role": "user", "content": "ping"}]
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "echo: ping"
    assert answer.model == "microsoft/phi-2"
    headers = raw.headers
    assert headers["x-modelyard-deployment"] == "test/phi-2-echo"
    assert headers["x-modelyard-attempts"] == "2"  # the broken one first, then the fallback
    assert headers["x-modelyard-model"] == "microsoft/phi-2"
    assert headers["x-modelyard-license"].startswith("allowed")
    assert float(headers["x-modelyard-cost-usd"]) == pytest.approx(
        5 * 1e-9 + 2 * 2e-9
    )  # echo: 5 in, 2 out
    assert 0 < float(headers["x-modelyard-quality"]) <= 1
    assert headers["x-modelyard-route-id"].startswith("route-")


def test_auto_routes_to_the_embedded_model(gateway: Gateway) -> None:
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="auto",
        messages=[
            {"role": "user", "content": "What is the capital of France? Answer in one word."}
        ],
        max_tokens=10,
        temperature=0,
        extra_body={"route": {"privacy": "local_only"}},
    )
    assert raw.headers["x-modelyard-deployment"] == "embedded/smollm2-135m-instruct"
    answer = raw.parse()
    assert "Paris" in (answer.choices[0].message.content or "")
    assert answer.usage is not None and answer.usage.completion_tokens <= 10


@pytest.mark.anyio
async def test_async_sdk_streams_with_usage(gateway: Gateway) -> None:
    client = AsyncOpenAI(
        base_url=f"{gateway.server.base_url}/v1", api_key=gateway.user, max_retries=0
    )
    stream = await client.chat.completions.create(
        model="HuggingFaceTB/SmolLM2-1.7B-Instruct",  # served by the real llama.cpp server
        messages=[{"role": "user", "content": "Name three colours."}],
        max_tokens=20,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    await client.close()
    assert text and usage is not None and usage.completion_tokens > 0


def test_stream_fallback_before_the_first_byte(gateway: Gateway) -> None:
    chunks = list(
        gateway.client().chat.completions.create(
            model="phi-2", messages=[{"role": "user", "content": "a b"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "echo: a b"
    assert all(c.usage is None for c in chunks)  # not asked for


def test_failure_after_the_first_byte_ends_with_an_error_event(gateway: Gateway) -> None:
    response = gateway.post(
        "/v1/chat/completions",
        {
            "model": "mistral-7b-instruct",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "route": {"models": ["mistral-7b-instruct"], "privacy": "local_only"},
        },
    )
    assert response.status_code == 200
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert len(events) >= 3 and "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "upstream_unavailable"


def test_a_client_leaving_mid_stream_stops_the_upstream_and_is_recorded(
    gateway: Gateway, fault_upstream: ServerProcess
) -> None:
    from sqlalchemy import create_engine, select

    from router.accounts.orm import UsageRecord

    stats = f"{fault_upstream.base_url}/stats"
    before = httpx.get(stats).json()["disconnects"]
    body = {
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "messages": [{"role": "user", "content": "talk"}],
        "stream": True,
        "route": {"privacy": "local_only"},
    }
    headers = {"Authorization": f"Bearer {gateway.user}"}
    url = f"{gateway.server.base_url}/v1/chat/completions"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as response:
        route_id = response.headers["x-modelyard-route-id"]
        seen = 0
        for line in response.iter_lines():
            seen += line.startswith("data: {")
            if seen == 3:
                break  # and close the connection, 3 of 200 words in
    for _ in range(50):
        if httpx.get(stats).json()["disconnects"] > before:
            break
        time.sleep(0.1)
    assert httpx.get(stats).json()["disconnects"] == before + 1
    engine = create_engine(gateway.settings.database_url)
    record = None
    for _ in range(50):  # the ledger writes in batches, every half second
        with engine.connect() as conn:
            record = conn.execute(
                select(UsageRecord.status, UsageRecord.error, UsageRecord.output_tokens).where(
                    UsageRecord.route_id == route_id
                )
            ).first()
        if record is not None:
            break
        time.sleep(0.2)
    engine.dispose()
    assert record is not None
    status, error, produced = record
    assert (status, error) == ("partial", "the client went away")
    assert 2 <= produced < 200  # priced as far as it went


def test_requests_a_deployment_refuses_do_not_cool_it_down(gateway: Gateway) -> None:
    # A refused request is the request's fault, not the deployment's: clients sending bad
    # input must not take a deployment away from every other key.
    body = {
        "model": "phi-3-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "route": {"privacy": "local_only"},
    }
    for _ in range(5):
        refused = gateway.post("/v1/chat/completions", body)
        assert refused.status_code == 400, refused.text
        assert "frobnicate" in refused.json()["error"]["message"]
    plan = gateway.post("/v1/route", body).json()
    chosen = [c["deployment"] for c in plan["candidates"]]
    assert "test/phi-3-refuses" in chosen, plan


def test_legacy_completions(gateway: Gateway) -> None:
    answer = gateway.client().completions.create(model="phi-2", prompt="hello")
    assert answer.choices[0].text == "echo: hello"


def test_models_endpoints(gateway: Gateway) -> None:
    ids = [m.id for m in gateway.client().models.list()]
    assert ids[0] == "auto" and "microsoft/phi-2" in ids
    assert "bigscience/bloom" not in ids  # nothing to route to
    assert gateway.client().models.retrieve("phi-2").id == "microsoft/phi-2"
    with pytest.raises(openai.NotFoundError):
        gateway.client().models.retrieve("nobody/nothing")


def test_dry_run_lists_candidates_and_exclusions(gateway: Gateway) -> None:
    response = gateway.post(
        "/v1/route",
        {
            "model": "auto",
            "messages": [{"role": "user", "content": "Who wrote Hamlet?"}],
            "route": {"min_quality": 0.4, "use": {"commercial": True}},
        },
    )
    decision = response.json()
    assert decision["task"] == "knowledge" and decision["min_quality"] == 0.4
    assert decision["chosen"] == decision["candidates"][0]
    reasons = {e["deployment"]: e["reason"] for e in decision["excluded"]}
    assert reasons["embedded/smollm2-135m-instruct"] == "quality"
    # The need is met by each estimate's lower bound, which the dry run shows.
    assert all(c["quality_interval"][0] >= 0.4 for c in decision["candidates"])
    assert all("knowledge: ability" in c["quality_basis"] for c in decision["candidates"])


def test_route_headers(gateway: Gateway) -> None:
    response = gateway.post(
        "/v1/route",
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        **{"X-Route-Privacy": "local_only", "X-Route-Exclude": "smollm2"},
    )
    chosen = response.json()["chosen"]
    assert chosen["privacy"] == "local" and chosen["model"] != "HuggingFaceTB/SmolLM2-135M-Instruct"
    bad = gateway.post(
        "/v1/route",
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        **{"X-Route-Min-Quality": "high"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "x-route-min-quality"


@pytest.mark.parametrize(
    ("body", "error", "needle"),
    [
        ({"model": "phi-2", "messages": []}, openai.BadRequestError, "messages"),
        (
            {"model": "nobody/nothing", "messages": [{"role": "user", "content": "x"}]},
            openai.NotFoundError,
            "does not exist",
        ),
        (
            {"model": "auto", "messages": [{"role": "wizard", "content": "x"}]},
            openai.BadRequestError,
            "role",
        ),
        (
            {"model": "auto", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1},
            openai.BadRequestError,
            "max_tokens",
        ),
        (
            {"model": "auto", "messages": [{"role": "user", "content": "x"}], "n": 200},
            openai.BadRequestError,
            "n",
        ),
        (
            {
                "model": "auto",
                "messages": [{"role": "user", "content": "x"}],
                "extra_body": {"route": {"min_quality": 0.999}},
            },
            openai.BadRequestError,
            "no deployment meets",
        ),
    ],
)
def test_bad_requests_get_openai_errors(
    gateway: Gateway, body: dict[str, object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error) as raised:
        gateway.client().chat.completions.create(**body)  # type: ignore[call-overload]
    assert needle in str(raised.value)


def test_no_candidate_answer_carries_the_exclusion_table(gateway: Gateway) -> None:
    response = gateway.post(
        "/v1/chat/completions",
        {
            "model": "auto",
            "messages": [{"role": "user", "content": "x"}],
            "route": {"min_quality": 0.999},
        },
    )
    error = response.json()["error"]
    assert response.status_code == 400 and error["code"] == "no_candidate"
    assert {e["reason"] for e in error["excluded"]} >= {"quality"}


def test_keys_are_checked(gateway: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError):
        gateway.client("my-not-a-key").models.list()
    raw = httpx.post(
        f"{gateway.server.base_url}/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {gateway.user}", "Content-Type": "application/json"},
    )
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"


def test_usage_is_recorded_and_summarised(gateway: Gateway) -> None:
    gateway.client().chat.completions.create(
        model="phi-2", messages=[{"role": "user", "content": "count me"}]
    )
    summary: dict[str, object] = {}
    for _ in range(50):  # the ledger writes in batches, every half second
        summary = httpx.get(
            f"{gateway.server.base_url}/api/usage",
            headers={"Authorization": f"Bearer {gateway.user}"},
        ).json()
        phi2 = [m for m in summary.get("by_model", []) if m["model"] == "microsoft/phi-2"]  # type: ignore[attr-defined]
        if phi2 and phi2[0]["requests"] >= 4:  # this test's and three earlier ones
            break
        time.sleep(0.2)
    by_model = {m["model"]: m for m in summary["by_model"]}  # type: ignore[index, union-attr]
    assert by_model["microsoft/phi-2"]["requests"] >= 2
    reference = summary["reference"]
    assert reference["model"] == "meta-llama/Llama-2-70b-chat-hf"  # type: ignore[index]
    assert reference["saving_usd"] > 0  # type: ignore[index]
    forbidden = httpx.get(
        f"{gateway.server.base_url}/api/usage?all_keys=true",
        headers={"Authorization": f"Bearer {gateway.user}"},
    )
    assert forbidden.status_code == 403
    everyone = httpx.get(
        f"{gateway.server.base_url}/api/usage?all_keys=true",
        headers={"Authorization": f"Bearer {gateway.admin}"},
    ).json()
    assert everyone["requests"] >= summary["requests"]  # type: ignore[operator]


def test_the_ledger_survives_a_clean_shutdown(tmp_path: Path, gateway: Gateway) -> None:
    from sqlalchemy import create_engine, func, select

    from router.accounts.orm import UsageRecord

    engine = create_engine(gateway.settings.database_url)
    with engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(UsageRecord))
    gateway.client().chat.completions.create(
        model="phi-2", messages=[{"role": "user", "content": "last"}]
    )
    gateway.server.stop()  # SIGTERM: uvicorn's lifespan shutdown flushes the ledger
    with engine.connect() as conn:
        after = conn.scalar(select(func.count()).select_from(UsageRecord))
        statuses = conn.execute(select(UsageRecord.status, UsageRecord.attempts)).all()
    engine.dispose()
    assert after == (before or 0) + 1
    assert ("partial", 1) in statuses and ("ok", 2) in statuses
