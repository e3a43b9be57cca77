"""privacy auto and redact end to end: the openai SDK against a real modelyard process, with
a hosted deployment (through litellm) answered by the recording upstream, so the test sees
exactly what would have left our machines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import select

from catalog import repository as catalog_repo
from catalog.db import transaction
from catalog.terms import DeploymentKind, Privacy
from router.accounts.orm import UsageRecord
from tests.conftest import echo_deployment, prepare_database, start_gateway
from tests.fault_upstream import SECRET
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.settings import Settings

CARD = "4539 5787 6362 1486"
EMAIL = "maria.gonzalez84@gmail.com"
HOSTED = "test/phi-2-hosted"
LOCAL = "test/phi-2-echo"


@dataclass
class Setup:
    server: ServerProcess
    upstream: ServerProcess
    url: str
    keys: dict[str, str]

    def client(self, key: str = "app") -> OpenAI:
        return OpenAI(base_url=f"{self.server.base_url}/v1", api_key=self.keys[key], max_retries=0)

    def hosted_bodies(self) -> list[Any]:
        answer = httpx.get(f"{self.upstream.base_url}/recorded/hosted", timeout=10).json()
        assert isinstance(answer, list)
        return answer


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, fault_upstream: ServerProcess
) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("privacy")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    keys = prepare_database(
        url,
        folder,
        deployments=[
            # phi-2 on our machines, dearer than the hosted one below.
            echo_deployment(fault_upstream, input_cost_per_token=1e-6, output_cost_per_token=1e-6),
            echo_deployment(
                fault_upstream,
                name=HOSTED,
                base_url=f"{fault_upstream.base_url}/hosted/v1",
                served_name="openai/echo-pieces",
                input_cost_per_token=1e-10,
                output_cost_per_token=1e-10,
            ),
        ],
        api_keys={
            "app": {},  # a new key: privacy auto by default
            "open": {"privacy": "any"},
            "redactor": {"privacy": "redact"},
            "may-redact": {"allow_redact": True},
        },
    )
    # Made as local above (the catalog takes base URLs for local servers only), then turned
    # into a hosted deployment reached through litellm, as a provider's would be.
    engine, factory = session_factory_for(Settings(database_url=url, data_dir=folder))
    with transaction(factory) as session:
        hosted = catalog_repo.get_deployment(session, HOSTED)
        assert hosted is not None
        hosted.kind, hosted.privacy, hosted.provider = (
            DeploymentKind.HOSTED,
            Privacy.EXTERNAL,
            "openai",
        )
    engine.dispose()
    env = {
        "MODELYARD_DATABASE_URL": url,
        "MODELYARD_PROVIDER_KEYS": f'{{"openai": "{SECRET}"}}',
        "MODELYARD_LEDGER_FLUSH_SECONDS": "0.1",
    }
    server = start_gateway(folder, env, "privacy")
    yield Setup(server, fault_upstream, url, keys)
    server.stop()


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_without_findings_the_hosted_deployment_answers(setup: Setup) -> None:
    raw = setup.client().chat.completions.with_raw_response.create(
        model="phi-2", messages=ask("Summarise our refund policy in one line.")
    )
    assert raw.headers["x-modelyard-deployment"] == HOSTED
    assert raw.headers["x-modelyard-privacy"] == "auto"
    assert raw.headers["x-modelyard-privacy-findings"] == "none"
    assert (
        raw.parse().choices[0].message.content == "echo: Summarise our refund policy in one line."
    )


def test_a_card_number_keeps_the_request_local(setup: Setup) -> None:
    before = len(setup.hosted_bodies())
    prompt = f"I was charged twice on card {CARD}, please refund."
    raw = setup.client().chat.completions.with_raw_response.create(
        model="phi-2", messages=ask(prompt)
    )
    assert raw.headers["x-modelyard-deployment"] == LOCAL
    assert raw.headers["x-modelyard-privacy-findings"] == "payment_card=1"
    assert raw.parse().choices[0].message.content == f"echo: {prompt}"
    assert len(setup.hosted_bodies()) == before  # nothing reached the hosted provider

    # The same for a tool result or a system message, streamed.
    stream = setup.client().chat.completions.create(
        model="phi-2",
        messages=[
            {"role": "system", "content": f"Customer e-mail: {EMAIL}"},
            {"role": "user", "content": "Draft a short reply."},
        ],
        stream=True,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.startswith("echo: Draft")
    assert len(setup.hosted_bodies()) == before


def test_a_key_whose_policy_says_any_sends_it_anyway(setup: Setup) -> None:
    raw = setup.client("open").chat.completions.with_raw_response.create(
        model="phi-2", messages=ask(f"card {CARD}")
    )
    assert raw.headers["x-modelyard-deployment"] == HOSTED
    assert "x-modelyard-privacy" not in raw.headers


def test_the_dry_run_names_kinds_and_counts_never_the_text(setup: Setup) -> None:
    prompt = f"Refund card {CARD} and write to {EMAIL} or {EMAIL}."
    answer = httpx.post(
        f"{setup.server.base_url}/v1/route",
        json={"model": "phi-2", "messages": ask(prompt)},
        headers={"Authorization": f"Bearer {setup.keys['open']}", "X-Route-Privacy": "auto"},
        timeout=30,
    )
    assert answer.status_code == 200
    decision = answer.json()
    assert decision["privacy"]["findings"] == {"email": 2, "payment_card": 1}
    assert decision["privacy"]["stays_local"] is True
    assert "local or embedded" in decision["privacy"]["explanation"]
    assert decision["chosen"]["deployment"] == LOCAL
    excluded = {e["deployment"]: e for e in decision["excluded"]}
    assert excluded[HOSTED]["reason"] == "privacy"
    assert "payment_card=1" in excluded[HOSTED]["detail"]
    assert "4539" not in answer.text and "maria" not in answer.text


def test_no_local_deployment_means_a_400_never_a_hosted_call(setup: Setup) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        setup.client().chat.completions.create(
            model="llama-2-70b-chat", messages=ask(f"My SSN is 536-22-1234 and card {CARD}")
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "privacy"
    assert "payment_card=1, national_id=1" in error["message"]
    assert "536-22" not in str(caught.value.response.text)


def test_redact_sends_placeholders_and_restores_the_answer(setup: Setup) -> None:
    before = len(setup.hosted_bodies())
    prompt = f"Refund card {CARD} and confirm to {EMAIL}."
    raw = setup.client("redactor").chat.completions.with_raw_response.create(
        model="phi-2", messages=ask(prompt)
    )
    assert raw.headers["x-modelyard-deployment"] == HOSTED
    assert raw.headers["x-modelyard-privacy"] == "redact"
    assert raw.headers["x-modelyard-redacted"] == "2"
    assert raw.parse().choices[0].message.content == f"echo: {prompt}"
    sent = setup.hosted_bodies()[before:]
    assert len(sent) == 1
    assert sent[0]["messages"][-1]["content"] == (
        "Refund card <PAYMENT_CARD_1> and confirm to <EMAIL_1>."
    )


def test_redact_restores_placeholders_split_across_stream_chunks(setup: Setup) -> None:
    before = len(setup.hosted_bodies())
    prompt = f"Email {EMAIL} about card {CARD} today."
    stream = setup.client("may-redact").chat.completions.create(
        model="phi-2",
        messages=ask(prompt),
        stream=True,
        extra_body={"route": {"privacy": "redact"}},
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert "".join(pieces) == f"echo: {prompt}"
    assert len(pieces) > 10  # three characters a chunk: placeholders arrived split
    sent = setup.hosted_bodies()[before:]
    assert [body["messages"][-1]["content"] for body in sent] == [
        "Email <EMAIL_1> about card <PAYMENT_CARD_1> today."
    ]


def test_redact_needs_a_key_that_allows_it(setup: Setup) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        setup.client().chat.completions.create(
            model="phi-2", messages=ask("hello"), extra_body={"route": {"privacy": "redact"}}
        )


def test_the_ledger_records_the_kinds(setup: Setup) -> None:
    setup.client().chat.completions.create(
        model="phi-2", messages=ask(f"IBAN DE75 5121 0800 1245 1261 99 for {EMAIL}")
    )
    engine, factory = session_factory_for(Settings(database_url=setup.url))
    deadline = time.monotonic() + 20
    kinds: list[str | None] = []
    while time.monotonic() < deadline:
        with factory() as session:
            kinds = list(session.scalars(select(UsageRecord.privacy_findings)))
        if "email=1, iban=1" in kinds:
            break
        time.sleep(0.2)
    engine.dispose()
    assert "email=1, iban=1" in kinds
    assert "payment_card=1" in kinds
    assert "none" in kinds
    assert not any(k and "4539" in k for k in kinds)


def test_headers_and_keys_take_the_new_values(setup: Setup, tmp_path: Path) -> None:
    answer = httpx.post(
        f"{setup.server.base_url}/v1/route",
        json={"model": "phi-2", "messages": ask("hi")},
        headers={"Authorization": f"Bearer {setup.keys['app']}", "X-Route-Privacy": "sometimes"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "x-route-privacy"
