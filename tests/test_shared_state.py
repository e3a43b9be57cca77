"""State the replicas share through Redis: deployment health in one process, then two real
gateway processes on one database and one redis-server, driven over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from router.state.health import SharedHealth
from tests.conftest import (
    RedisServer,
    broken_then_priced,
    prepare_database,
    start_gateway,
)
from tests.servers import ServerProcess


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_a_cooldown_set_by_one_replica_is_honoured_by_another(
    redis_server: RedisServer,
) -> None:
    client = aioredis.from_url(redis_server.url)
    await client.flushdb()
    clock = Clock()
    one = SharedHealth(client, threshold=2, window=60, cooldown=30, clock=clock)
    other = SharedHealth(client, threshold=2, window=60, cooldown=30, clock=clock)
    one.failed(41)
    one.failed(41)
    await asyncio.gather(*one._pending)
    assert 41 in one.cooling()
    await other.sync()
    assert other.cooling() == frozenset({41})
    clock.now += 31  # the cool-down is over: the next request probes the deployment again
    await other.sync()
    assert other.cooling() == frozenset()
    await client.aclose()


@pytest.mark.anyio
async def test_without_redis_a_replica_still_knows_its_own_failures() -> None:
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    health = SharedHealth(client, threshold=2)
    health.failed(7)
    health.failed(7)
    await asyncio.gather(*health._pending)
    await health.sync()
    assert health.cooling() == frozenset({7})
    assert health.unavailable == 3
    await client.aclose()


@dataclass
class Replicas:
    servers: list[ServerProcess]
    admin: str
    user: str

    def post(self, replica: int, path: str, body: object, key: str | None = None) -> httpx.Response:
        return httpx.post(
            self.servers[replica].base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {key or self.user}"},
            timeout=30,
        )


ESTIMATE = Decimal("0.000026")  # 6 prompt + 20 answer tokens at $1 per million
BUDGET = ESTIMATE * 10


@pytest.fixture
def replicas(
    tmp_path: Path, redis_server: RedisServer, fault_upstream: ServerProcess
) -> Iterator[Replicas]:
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    deployments = broken_then_priced(fault_upstream)
    secrets = prepare_database(
        url, tmp_path, deployments, {"app": {"budget_usd_per_day": float(BUDGET)}}, ("ops",)
    )
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_REDIS_URL": redis_server.url}
    servers = []
    try:
        for replica in range(2):
            servers.append(start_gateway(tmp_path, env, f"replica-{replica}"))
        yield Replicas(servers, secrets["ops"], secrets["app"])
    finally:
        for server in servers:
            server.stop()


PHI2 = {
    "model": "phi-2",
    "messages": [{"role": "user", "content": "hello"}],
    "max_tokens": 20,
    "route": {"privacy": "local_only", "exclude": ["smollm2"]},
}


def test_two_replicas_share_budget_health_and_catalog(replicas: Replicas) -> None:
    # Health: the broken deployment fails three times on replica 0 and cools down; replica 1
    # skips it with that reason within its mirror's refresh.
    for _ in range(3):
        answered = replicas.post(0, "/v1/chat/completions", PHI2, replicas.admin)
        assert answered.status_code == 200, answered.text
        assert answered.headers["x-modelyard-attempts"] == "2"  # fell back to the priced one
    reasons: dict[str, str] = {}
    for _ in range(40):
        plan = replicas.post(1, "/v1/route", PHI2, replicas.admin).json()
        reasons = {e["deployment"]: e["reason"] for e in plan["excluded"]}
        if reasons.get("test/phi-2-broken") == "health":
            break
        time.sleep(0.1)
    assert reasons.get("test/phi-2-broken") == "health"

    # Budget: 64 concurrent requests, alternating replicas, against one daily budget.
    async def load() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        replicas.servers[i % 2].base_url + "/v1/chat/completions",
                        json=PHI2,
                        headers={"Authorization": f"Bearer {replicas.user}"},
                    )
                    for i in range(64)
                )
            )

    answers = asyncio.run(load())
    served = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert served and refused, [a.status_code for a in answers]
    assert all("budget" in a.json()["error"]["message"] for a in refused)
    assert {a.headers["x-modelyard-deployment"] for a in served} == {"test/phi-2-priced"}
    spent = sum(Decimal(a.headers["x-modelyard-cost-usd"]) for a in served)
    assert spent <= BUDGET + ESTIMATE  # at most one request's estimate over, across replicas

    # Catalog: a deployment added through replica 0 is routable on replica 1 within a second.
    added = replicas.post(
        0,
        "/api/deployments",
        {
            "model": "phi-2",
            "kind": "local",
            "name": "test/phi-2-new",
            "base_url": "http://127.0.0.1:9/v1",
            "served_name": "new",
        },
        replicas.admin,
    )
    assert added.status_code == 201, added.text
    deadline = time.monotonic() + 3
    names: set[str] = set()
    while time.monotonic() < deadline:
        plan = replicas.post(1, "/v1/route", {**PHI2, "route": {}}, replicas.admin).json()
        names = {c["deployment"] for c in plan["candidates"]}
        if "test/phi-2-new" in names:
            break
        time.sleep(0.1)
    assert "test/phi-2-new" in names
