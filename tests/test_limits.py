"""Rate limits and budgets: the same behaviour from the in-process backend and from Redis (a
real redis-server started by the suite), then through the gateway's HTTP answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from fastapi.testclient import TestClient

from catalog import service
from catalog.db import transaction
from catalog.schemas import DeploymentIn
from router.accounts import keys
from router.core.errors import RouteError
from router.state.limits import InProcessLimits, KeyLimits, Limits, RedisLimits
from tests.conftest import RedisServer, migrate, seed
from tests.servers import ServerProcess
from web.app import create_app, session_factory_for
from web.settings import Settings

pytestmark = pytest.mark.anyio


class Clock:
    """Time the test moves by hand, starting 10 s into a minute."""

    def __init__(self) -> None:
        self.now = 1_800_000_010.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "redis"])
async def limits(
    request: pytest.FixtureRequest, clock: Clock, redis_server: RedisServer
) -> AsyncIterator[Limits]:
    if request.param == "memory":
        yield InProcessLimits(clock)
        return
    client = aioredis.from_url(redis_server.url)
    await client.flushdb()
    yield RedisLimits(client, "open", clock)
    await client.aclose()


async def test_requests_per_minute_slide(limits: Limits, clock: Clock) -> None:
    rpm = KeyLimits(requests_per_minute=3)
    verdicts = [await limits.admit(1, rpm, 10) for _ in range(3)]
    assert all(v.allowed for v in verdicts)
    assert verdicts[-1].headers["x-ratelimit-remaining-requests"] == "0"
    refused = await limits.admit(1, rpm, 10)
    assert not refused.allowed and 0 < refused.retry_after <= 60
    assert refused.headers["x-ratelimit-limit-requests"] == "3"
    assert (await limits.admit(2, rpm, 10)).allowed  # another key has its own count
    # 40 s into the next minute, two thirds of the last minute's three have slid out.
    clock.now += 60 + 30
    assert (await limits.admit(1, rpm, 10)).allowed
    assert (await limits.admit(1, rpm, 10)).allowed
    assert not (await limits.admit(1, rpm, 10)).allowed


async def test_tokens_per_minute(limits: Limits, clock: Clock) -> None:
    tpm = KeyLimits(tokens_per_minute=1000)
    assert (await limits.admit(7, tpm, 600)).allowed
    too_many = await limits.admit(7, tpm, 600)
    assert not too_many.allowed
    assert too_many.headers["x-ratelimit-remaining-tokens"] == "400"
    await limits.add_tokens(7, -500)  # the answer was shorter than estimated
    assert (await limits.admit(7, tpm, 600)).allowed


async def test_budgets_reserve_and_settle(limits: Limits) -> None:
    daily = KeyLimits(budget_usd_per_day=0.10)
    assert await limits.budget_left(3, daily) == Decimal("0.1")
    assert await limits.reserve(3, daily, 0.06)
    assert not await limits.reserve(3, daily, 0.06)  # would overspend
    assert await limits.reserve(3, daily, 0)  # free deployments never need a budget
    await limits.settle(3, daily, 0.06, 0.01)  # the answer cost less than estimated
    assert await limits.budget_left(3, daily) == Decimal("0.09")
    assert await limits.budget_left(3, KeyLimits()) is None


async def test_concurrent_reservations_never_overspend(limits: Limits) -> None:
    monthly = KeyLimits(budget_usd_per_day=1.0, budget_usd_per_month=0.5)
    granted = await asyncio.gather(*(limits.reserve(9, monthly, 0.03) for _ in range(64)))
    assert sum(granted) == 16  # 16 x $0.03 = $0.48; a 17th would pass $0.50
    assert await limits.budget_left(9, monthly) == Decimal("0.02")


async def test_redis_away_fails_open_or_closed(clock: Clock) -> None:
    # Nothing listens on port 1: every call fails to connect.
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    opened = RedisLimits(client, "open", clock)
    assert (await opened.admit(1, KeyLimits(requests_per_minute=1), 1)).allowed
    assert await opened.reserve(1, KeyLimits(budget_usd_per_day=0.01), 5.0)
    await opened.settle(1, KeyLimits(budget_usd_per_day=0.01), 5.0, 4.0)  # logged, not raised
    assert opened.unavailable == 3
    closed = RedisLimits(client, "closed", clock)
    with pytest.raises(RouteError) as refused:
        await closed.admit(1, KeyLimits(requests_per_minute=1), 1)
    assert refused.value.status == 503
    await closed.settle(1, KeyLimits(budget_usd_per_day=0.01), 5.0, 4.0)  # never refuses
    await client.aclose()


# --- through the gateway ---------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def gateway_settings(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_server: RedisServer,
    fault_upstream: ServerProcess,
) -> Settings:
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    migrate(url)
    redis_url = None
    if request.param == "redis":
        redis_url = redis_server.url
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    settings = Settings(database_url=url, data_dir=tmp_path, redis_url=redis_url)
    engine, factory = session_factory_for(settings)
    seed(factory)
    with transaction(factory) as session:
        service.add_deployment(
            session,
            DeploymentIn.model_validate(
                {
                    "name": "test/phi-2-priced",
                    "model": "phi-2",
                    "kind": "local",
                    "base_url": f"{fault_upstream.base_url}/v1",
                    "served_name": "echo",
                    "input_cost_per_token": 1e-6,
                    "output_cost_per_token": 1e-6,
                }
            ),
        )
    engine.dispose()
    return settings


def make_key(settings: Settings, policy: dict[str, Any]) -> str:
    engine, factory = session_factory_for(settings)
    with transaction(factory) as session:
        _key, secret = keys.create_key(session, f"k{len(policy)}{id(policy)}", policy=policy)
    engine.dispose()
    return secret


@pytest.fixture
def client(gateway_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(gateway_settings), raise_server_exceptions=False) as client:
        yield client


PHI2 = {
    "model": "phi-2",
    "messages": [{"role": "user", "content": "hello"}],
    "max_tokens": 20,
    "route": {"privacy": "local_only"},
}


def test_rate_limited_requests_get_429_with_retry_after(
    client: TestClient, gateway_settings: Settings
) -> None:
    key = make_key(gateway_settings, {"requests_per_minute": 2})
    auth = {"Authorization": f"Bearer {key}"}
    first = client.post("/v1/chat/completions", json=PHI2, headers=auth)
    assert first.status_code == 200, first.text
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert client.post("/v1/chat/completions", json=PHI2, headers=auth).status_code == 200
    refused = client.post("/v1/chat/completions", json=PHI2, headers=auth)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_spent_budget_leaves_only_free_deployments(
    client: TestClient, gateway_settings: Settings
) -> None:
    # The priced deployment's estimate: 6 prompt + 20 answer tokens at $1 per million, so
    # $30 millionths pay for one request's estimate, and what the answer leaves does not.
    key = make_key(gateway_settings, {"budget_usd_per_day": 0.00003})
    auth = {"Authorization": f"Bearer {key}"}
    answered = client.post("/v1/chat/completions", json=PHI2, headers=auth)
    assert answered.status_code == 200, answered.text
    assert answered.headers["x-modelyard-deployment"] == "test/phi-2-priced"
    # What is left cannot pay for another estimate: the dry run says why.
    plan = client.post("/v1/route", json=PHI2, headers=auth).json()
    reasons = {e["deployment"]: e["reason"] for e in plan["excluded"]}
    assert reasons["test/phi-2-priced"] == "budget"
    refused = client.post("/v1/chat/completions", json=PHI2, headers=auth)
    assert refused.status_code == 400 and "budget" in refused.json()["error"]["message"]
    # A free deployment (the embedded model) is never blocked by the spent budget.
    anything_local = {**PHI2, "model": "auto"}
    free = client.post("/v1/route", json=anything_local, headers=auth).json()
    assert free["chosen"]["estimated_cost_usd"] == 0


async def test_keys_of_one_team_share_its_budget(limits: Limits) -> None:
    def member(own: float | None = None) -> KeyLimits:
        return KeyLimits(budget_usd_per_day=own, team="search", team_usd_per_day=0.05)

    assert await limits.reserve(1, member(), 0.03)
    assert not await limits.reserve(2, member(), 0.03)  # the team has $0.02 left
    assert await limits.reserve(2, member(), 0.02)
    assert await limits.budget_left(3, member()) == Decimal("0")
    assert not await limits.reserve(3, member(own=1.0), 0.01)  # own budget left, team's not


def test_the_response_cache_answers_repeats_for_free(
    client: TestClient, gateway_settings: Settings
) -> None:
    key = make_key(gateway_settings, {"cache_ttl_seconds": 60})
    auth = {"Authorization": f"Bearer {key}"}
    first = client.post("/v1/chat/completions", json=PHI2, headers=auth)
    assert first.status_code == 200, first.text
    assert first.headers["x-modelyard-cache"] == "miss"
    assert float(first.headers["x-modelyard-cost-usd"]) > 0
    # The same question, naming the model by its full id and the text as parts.
    same = {
        **PHI2,
        "model": "microsoft/phi-2",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
    }
    again = client.post("/v1/chat/completions", json=same, headers=auth)
    assert again.headers["x-modelyard-cache"] == "hit"
    assert again.headers["x-modelyard-cost-usd"] == "0"
    assert again.headers["x-modelyard-route-id"] != first.headers["x-modelyard-route-id"]
    assert again.json() == first.json()
    other_prompt = {**PHI2, "messages": [{"role": "user", "content": "goodbye"}]}
    assert (
        client.post("/v1/chat/completions", json=other_prompt, headers=auth).headers[
            "x-modelyard-cache"
        ]
        == "miss"
    )
    # Another key never sees this key's answers; without opting in there is no cache at all.
    stranger = {"Authorization": f"Bearer {make_key(gateway_settings, {})}"}
    opted_in = {**PHI2, "route": {**PHI2["route"], "cache_ttl_seconds": 60}}  # type: ignore[dict-item]
    assert (
        client.post("/v1/chat/completions", json=opted_in, headers=stranger).headers[
            "x-modelyard-cache"
        ]
        == "miss"
    )
    plain = client.post("/v1/chat/completions", json=PHI2, headers=stranger)
    assert "x-modelyard-cache" not in plain.headers
