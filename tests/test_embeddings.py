"""POST /v1/embeddings end to end: a real modelyard process, the embedded WordLlama, the
recording upstream as a local server, and clients unchanged (the openai SDK, LangChain)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI
from sqlalchemy import select

from router.accounts.orm import ApiKey, EmbeddingPin, UsageRecord
from tests.conftest import prepare_database, start_gateway
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.settings import Settings

WORDLLAMA = "dleemiller/word-llama-l2-supercat"
BGE = "BAAI/bge-base-en-v1.5"


@dataclass
class Setup:
    server: ServerProcess
    keys: dict[str, str]
    url: str
    folder: Path
    upstream: ServerProcess

    def client(self, key: str = "app") -> OpenAI:
        return OpenAI(base_url=f"{self.server.base_url}/v1", api_key=self.keys[key], max_retries=0)

    def post(self, path: str, body: object, key: str = "app", **headers: str) -> httpx.Response:
        return httpx.post(
            self.server.base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.keys[key]}", **headers},
            timeout=60,
        )

    def rows(self, key: str) -> list[UsageRecord]:
        engine, factory = session_factory_for(Settings(database_url=self.url))
        with factory() as session:
            key_id = session.scalar(select(ApiKey.id).where(ApiKey.name == key))
            rows = list(
                session.scalars(
                    select(UsageRecord)
                    .where(UsageRecord.api_key_id == key_id)
                    .order_by(UsageRecord.id)
                )
            )
            session.expunge_all()
        engine.dispose()
        return rows


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, fault_upstream: ServerProcess
) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("embeddings")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    upstream = f"{fault_upstream.base_url}/v1"
    keys = prepare_database(
        url,
        folder,
        deployments=[
            # BGE: a broken local server (cheapest), one that answers (cheaper than the
            # seeded hosted one, which cannot be reached from here), and an external one.
            {
                "name": "test/bge-broken",
                "model": BGE,
                "base_url": upstream,
                "served_name": "server-error",
                "input_cost_per_token": 1e-9,
                "output_cost_per_token": 0,
            },
            {
                "name": "test/bge-echo",
                "model": BGE,
                "base_url": upstream,
                "served_name": "embed-768",
                "input_cost_per_token": 5e-9,
                "output_cost_per_token": 0,
            },
            {
                "name": "test/bge-external",
                "model": BGE,
                "base_url": upstream,
                "served_name": "embed-768",
                "input_cost_per_token": 5e-8,
                "output_cost_per_token": 0,
                "privacy": "external",
            },
        ],
        api_keys={
            "app": {},
            "pinner": {},
            "racer": {},
            "chosen": {"embedding_model": "bge-base-en-v1.5"},
            "langchain": {},
            "strict": {"privacy": "local_only"},
        },
    )
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_LOG_LEVEL": "warning"}
    server = start_gateway(folder, env)
    yield Setup(server, keys, url, folder, fault_upstream)
    server.stop()


def unit(rows: list[list[float]]) -> np.ndarray:
    vectors = np.array(rows)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    return vectors


# --- the openai SDK, unchanged --------------------------------------------------------------------


def test_sdk_float_embeddings_from_the_embedded_model(setup: Setup) -> None:
    raw = setup.client().embeddings.with_raw_response.create(
        model="wordllama", input=["The cat sat on the mat.", "A kitten rests."],
        encoding_format="float",
    )  # fmt: skip
    result = raw.parse()
    assert result.model == WORDLLAMA
    assert [d.index for d in result.data] == [0, 1]
    vectors = unit([d.embedding for d in result.data])
    assert vectors.shape == (2, 256)
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0
    assert raw.headers["x-modelyard-deployment"] == "embedded/wordllama-l2-supercat"
    assert raw.headers["x-modelyard-cost-usd"] == "0"
    assert raw.headers["x-modelyard-license"].startswith("allowed")


def test_sdk_base64_default_decodes_to_the_same_vectors(setup: Setup) -> None:
    client = setup.client()
    as_float = client.embeddings.create(model="wordllama", input="hello", encoding_format="float")
    default = client.embeddings.create(model="wordllama", input="hello")  # the SDK asks base64
    assert np.allclose(default.data[0].embedding, as_float.data[0].embedding, atol=1e-7)
    # Exactly: the float answer spells each float32 in full, as the SDK's base64 decoding
    # (numpy float32 to Python float) reads it.
    texts = ["one 1", "two 22 and more words", "three"] * 3
    floats = client.embeddings.create(model="wordllama", input=texts, encoding_format="float")
    decoded = client.embeddings.create(model="wordllama", input=texts)
    assert [d.embedding for d in decoded.data] == [d.embedding for d in floats.data]
    raw = setup.post(
        "/v1/embeddings", {"model": "wordllama", "input": "hello", "encoding_format": "base64"}
    )
    assert isinstance(raw.json()["data"][0]["embedding"], str)


def test_sdk_dimensions_honoured_or_refused_by_name(setup: Setup) -> None:
    client = setup.client()
    full = client.embeddings.create(model="wordllama", input="size", encoding_format="float")
    small = client.embeddings.create(
        model="wordllama", input="size", dimensions=64, encoding_format="float"
    )
    head = np.array(full.data[0].embedding[:64])
    assert np.allclose(small.data[0].embedding, head / np.linalg.norm(head), atol=1e-6)
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model="wordllama", input="size", dimensions=100)
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["param"] == "dimensions" and "256, 128, 64" in error["message"]


def test_a_list_is_one_upstream_call_with_fallback_and_a_ledger_row(setup: Setup) -> None:
    before = len(httpx.get(f"{setup.upstream.base_url}/embeddings/recorded").json())
    raw = setup.client().embeddings.with_raw_response.create(
        model=BGE, input=["alpha beta", "gamma", "delta epsilon zeta"], encoding_format="float"
    )
    result = raw.parse()
    assert len(result.data) == 3 and len(result.data[0].embedding) == 768
    assert raw.headers["x-modelyard-deployment"] == "test/bge-echo"
    assert raw.headers["x-modelyard-attempts"] == "2"  # the broken server first
    sent = httpx.get(f"{setup.upstream.base_url}/embeddings/recorded").json()[before:]
    assert [s["model"] for s in sent] == ["server-error", "embed-768"]  # one call each
    assert sent[1]["input"] == ["alpha beta", "gamma", "delta epsilon zeta"]
    assert result.usage.prompt_tokens == 6
    assert float(raw.headers["x-modelyard-cost-usd"]) == pytest.approx(6 * 5e-9)
    rows: list[UsageRecord] = []
    for _ in range(50):
        rows = [r for r in setup.rows("app") if r.route_id == raw.headers["x-modelyard-route-id"]]
        if rows:
            break
        time.sleep(0.1)
    (row,) = rows
    assert (row.model_name, row.deployment_name, row.status) == (BGE, "test/bge-echo", "ok")
    assert (row.input_tokens, row.output_tokens, row.attempts) == (6, 0, 2)
    assert float(row.cost_usd) == pytest.approx(6 * 5e-9)


def test_token_arrays_go_to_servers_and_are_refused_by_the_embedded_model(setup: Setup) -> None:
    client = setup.client()
    result = client.embeddings.create(model=BGE, input=[[1, 2, 3]], encoding_format="float")
    assert len(result.data[0].embedding) == 768
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model="wordllama", input=[[1, 2, 3]])
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["param"] == "input" and error["code"] == "unsupported_input"


# --- LangChain, as its users set it up for a non-OpenAI server ------------------------------------


def test_langchain_openai_embeddings(setup: Setup) -> None:
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(
        model="auto",
        base_url=f"{setup.server.base_url}/v1",
        api_key=setup.keys["langchain"],  # type: ignore[arg-type]
        # LangChain would otherwise tokenise with tiktoken (OpenAI's vocabulary) and send
        # token ids: meaningless to any other model, so refused by the embedded one.
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    documents = embeddings.embed_documents(["Routers pick models.", "Cats sleep a lot."])
    query = embeddings.embed_query("Which model answers?")
    assert len(documents) == 2 and len(documents[0]) == len(query) == 256
    q, d = np.array(query), np.array(documents)
    assert q @ d[0] > q @ d[1]


# --- one model per key ----------------------------------------------------------------------------


def test_auto_pins_the_first_choice_and_keeps_it_across_a_restart(setup: Setup) -> None:
    first = setup.post(
        "/v1/embeddings", {"model": "auto", "input": "x", "route": {"models": [BGE]}}, "pinner"
    )
    assert first.status_code == 200, first.text
    assert first.headers["x-modelyard-embedding-model"] == f"{BGE}; pin"
    # WordLlama is cheaper (free), but this key's vectors come from BGE from now on.
    later = setup.post("/v1/embeddings", {"model": "auto", "input": "y"}, "pinner")
    assert later.json()["model"] == BGE
    excluded = setup.post(
        "/v1/embeddings", {"model": "auto", "input": "y", "route": {"exclude": [BGE]}}, "pinner"
    )
    assert excluded.status_code == 400
    assert "cannot be compared" in excluded.json()["error"]["message"]
    engine, factory = session_factory_for(Settings(database_url=setup.url))
    with factory() as session:
        pins = {(p.api_key_id, p.model_name) for p in session.scalars(select(EmbeddingPin)).all()}
    engine.dispose()
    assert any(model == BGE for _, model in pins)
    restarted = start_gateway(setup.folder, {"MODELYARD_DATABASE_URL": setup.url}, "restarted")
    try:
        again = httpx.post(
            f"{restarted.base_url}/v1/embeddings",
            json={"model": "auto", "input": "z"},
            headers={"Authorization": f"Bearer {setup.keys['pinner']}"},
            timeout=60,
        )
    finally:
        restarted.stop()
    assert again.json()["model"] == BGE


def test_a_key_without_a_pin_gets_the_cheapest_and_the_policy_names_its_own(setup: Setup) -> None:
    racer = setup.post("/v1/embeddings", {"model": "auto", "input": "x"}, "racer")
    assert racer.json()["model"] == WORDLLAMA  # free and embedded
    chosen = setup.post("/v1/embeddings", {"model": "auto", "input": "x"}, "chosen")
    assert chosen.json()["model"] == BGE
    assert chosen.headers["x-modelyard-embedding-model"] == "bge-base-en-v1.5; policy"


# --- the dry run, licence and privacy -------------------------------------------------------------


def _reasons(decision: dict[str, Any]) -> dict[str, str]:
    return {e["deployment"]: e["reason"] for e in decision["excluded"]}


def test_dry_run_explains_and_pins_nothing(setup: Setup) -> None:
    response = setup.post("/v1/embeddings/route", {"model": "auto", "input": ["a", "b"]}, "app")
    decision = response.json()
    assert decision["chosen"]["model"] in (WORDLLAMA, BGE)
    assert decision["estimated_completion_tokens"] == 0
    reasons = _reasons(decision)
    assert reasons["embedded/smollm2-135m-instruct"] == "capability"  # a chat model
    fresh = setup.post("/v1/embeddings/route", {"model": "auto", "input": "a"}, "langchain")
    assert fresh.json()["embedding_model"]["pinned_by"] in (None, "pin")


def test_chat_auto_never_picks_an_embedding_model(setup: Setup) -> None:
    decision = setup.post(
        "/v1/route", {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    ).json()
    assert all(c["model"] not in (WORDLLAMA, BGE) for c in decision["candidates"])
    excluded = {e["model"]: e for e in decision["excluded"]}
    assert excluded[WORDLLAMA]["reason"] == "capability"
    assert "embeddings only" in excluded[WORDLLAMA]["detail"]
    chat = setup.post(
        "/v1/chat/completions",
        {"model": "wordllama", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.status_code == 400 and "capability" in chat.json()["error"]["message"]


def test_licence_profile_excludes_by_lineage(setup: Setup) -> None:
    # WordLlama is MIT, but trained from Llama 2 70B's token vectors: Llama 2's user
    # threshold decides for a very large service.
    use = {
        "commercial": True,
        "monthly_active_users": 800_000_000,
        "monthly_active_users_at_release": 800_000_000,
    }
    decision = setup.post(
        "/v1/embeddings/route", {"model": "wordllama", "input": "a", "route": {"use": use}}
    ).json()
    assert _reasons(decision)["embedded/wordllama-l2-supercat"] == "license"
    assert "llama2" in decision["excluded"][0]["detail"]


def test_privacy_local_only_keeps_inputs_on_our_machines(setup: Setup) -> None:
    decision = setup.post(
        "/v1/embeddings/route",
        {"model": BGE, "input": "a", "route": {"privacy": "local_only"}},
    ).json()
    reasons = _reasons(decision)
    assert reasons["test/bge-external"] == "privacy"
    assert reasons["together/bge-base-en-v1.5"] == "privacy"
    assert {c["privacy"] for c in decision["candidates"]} == {"local"}
    strict = setup.post("/v1/embeddings", {"model": BGE, "input": "a"}, "strict")
    assert strict.headers["x-modelyard-deployment"] == "test/bge-echo"


# --- bad input: OpenAI's envelope, naming the parameter -------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": "auto", "input": ""}, "input", "empty string"),
        ({"model": "auto", "input": ["a", 3]}, "input", "neither"),
        ({"model": "auto"}, "input", "Field required"),
        ({"input": "a"}, "model", "Field required"),
        ({"model": "auto", "input": "a", "encoding_format": "hex"}, "encoding_format", "float"),
        ({"model": "auto", "input": "a", "dimensions": 0}, "dimensions", "greater than"),
        ({"model": "auto", "input": "a", "colour": "blue"}, "colour", "Extra inputs"),
        ({"model": "auto", "input": "a", "route": {"min_quality": 0.5}}, "route.min_quality",
         "does not apply"),
        ({"model": "auto", "input": "a", "route": {"privacy": "moon"}}, "route.privacy",
         "Input should be"),
        ({"model": "no-such-model", "input": "a"}, None, "does not exist"),
    ],
)  # fmt: skip
def test_bad_requests_are_400s_naming_the_param(
    setup: Setup, body: dict[str, Any], param: str | None, words: str
) -> None:
    response = setup.post("/v1/embeddings", body)
    assert response.status_code in (400, 404)
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"]


def test_text_the_model_cannot_read_is_a_400(setup: Setup) -> None:
    response = httpx.post(
        f"{setup.server.base_url}/v1/embeddings",
        content=b'{"model": "wordllama", "input": "a\\ud800b"}',  # a lone surrogate
        headers={
            "Authorization": f"Bearer {setup.keys['app']}",
            "Content-Type": "application/json",
        },
        timeout=60,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "input" and "cannot read" in error["message"]
