"""The production topology without Docker: PostgreSQL and redis-server from Debian, a real
llama.cpp server, and two modelyard processes, driven with the official openai SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import func, select

from router.accounts.orm import UsageRecord
from tests.conftest import (
    PostgresServer,
    RedisServer,
    echo_deployment,
    prepare_database,
    start_gateway,
    start_llama_server,
)
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.settings import Settings

MODEL = "HuggingFaceTB/SmolLM2-1.7B-Instruct"
PRICE = 1e-6  # the fallback deployment's price per token


@dataclass
class Topology:
    replicas: list[ServerProcess]
    llama: ServerProcess
    database_url: str
    user: str
    admin: str
    budgeted: str

    def client(self, replica: int, key: str | None = None) -> OpenAI:
        base = f"{self.replicas[replica].base_url}/v1"
        return OpenAI(base_url=base, api_key=key or self.user, max_retries=0)


@pytest.fixture
def topology(
    tmp_path: Path, postgres: PostgresServer, fault_upstream: ServerProcess
) -> Iterator[Topology]:
    redis_server = RedisServer(tmp_path, durable=True)
    redis_server.start()
    llama = start_llama_server(tmp_path)
    name = postgres.create_database()
    url = postgres.url(name)
    fallback = echo_deployment(
        fault_upstream,
        name="test/fallback",
        model=MODEL,
        input_cost_per_token=PRICE,
        output_cost_per_token=PRICE,
    )
    local = {"name": "test/llama", "model": MODEL, "base_url": f"{llama.base_url}/v1"}
    secrets = prepare_database(
        url,
        tmp_path,
        [{**local, "served_name": "smollm2"}, fallback],
        {
            "app": {"privacy": "local_only"},
            # Three fallback answers fit: each reserves ~$11 millionths and really costs $8.
            "budgeted": {"privacy": "local_only", "budget_usd_per_day": 0.00003},
        },
        ("ops",),
    )
    env = {
        "MODELYARD_DATABASE_URL": url,
        "MODELYARD_REDIS_URL": redis_server.url,
        "MODELYARD_LEDGER_FLUSH_SECONDS": "0.2",
    }
    replicas: list[ServerProcess] = []
    try:
        for i in range(2):
            replicas.append(start_gateway(tmp_path, env, f"replica-{i}"))
        user, admin, budgeted = secrets["app"], secrets["ops"], secrets["budgeted"]
        yield Topology(replicas, llama, url, user, admin, budgeted)
    finally:
        for replica in replicas:
            replica.stop()
        llama.stop()
        redis_server.stop()
        postgres.drop_database(name)


def ledger_rows(url: str) -> int:
    engine, factory = session_factory_for(Settings(database_url=url))
    with factory() as session:
        count = int(session.scalar(select(func.count()).select_from(UsageRecord)) or 0)
    engine.dispose()
    return count


def ask(topology: Topology, replica: int, key: str | None = None) -> tuple[str, str]:
    raw = topology.client(replica, key).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hi."}], max_tokens=4
    )
    answer = raw.parse()
    assert answer.choices[0].message.content is not None
    return raw.headers["x-modelyard-deployment"], raw.headers["x-modelyard-attempts"]


def excluded_for(topology: Topology, replica: int) -> dict[str, str]:
    plan = httpx.post(
        f"{topology.replicas[replica].base_url}/v1/route",
        json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": f"Bearer {topology.user}"},
        timeout=30,
    ).json()
    return {e["deployment"]: e["reason"] for e in plan["excluded"]}


def test_two_replicas_on_postgresql_and_redis_with_failover(topology: Topology) -> None:
    # Traffic through both replicas lands on the free local llama.cpp server.
    answered = [ask(topology, i % 2) for i in range(6)]
    assert answered == [("test/llama", "1")] * 6

    # The llama.cpp server dies: both replicas fall back to the next local deployment.
    topology.llama.kill()
    after = [ask(topology, i % 2) for i in range(4)]
    assert {deployment for deployment, _ in after} == {"test/fallback"}
    assert any(attempts == "2" for _, attempts in after)  # tried the dead server first
    asked = len(answered) + len(after)

    # Repeated failures cool the dead server down on every replica: no more tries there.
    deadline = time.monotonic() + 10
    while any(excluded_for(topology, r).get("test/llama") != "health" for r in (0, 1)):
        assert time.monotonic() < deadline, "the dead server never cooled down everywhere"
        ask(topology, 0)  # one more failure to count, should the threshold not be reached
        asked += 1
        time.sleep(0.3)
    assert ask(topology, 1) == ("test/fallback", "1")
    asked += 1

    # One budget across both replicas: three answers fit, the fourth is refused.
    for replica in (0, 1, 0):
        assert ask(topology, replica, topology.budgeted) == ("test/fallback", "1")
        asked += 1
    with pytest.raises(openai.BadRequestError, match="budget"):
        ask(topology, 1, topology.budgeted)

    # Every answered request has exactly one row in PostgreSQL's ledger.
    deadline = time.monotonic() + 10
    while ledger_rows(topology.database_url) < asked and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ledger_rows(topology.database_url) == asked
