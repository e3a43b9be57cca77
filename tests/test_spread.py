"""Load spreading and measured speed: two real llama.cpp servers serve the same model at the
same price, one of them behind a proxy that adds half a second. Both get traffic; the slow one,
once measured, gets less of it; the dry run shows what was measured. Speeds are shared between
replicas through a real Redis."""

from __future__ import annotations

import collections
import concurrent.futures
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog import service
from catalog.db import transaction
from catalog.schemas import DeploymentPatch
from catalog.snapshot import CatalogSnapshot
from router.core.requests import RouteControls
from router.quality.estimators import CatalogQualityEstimator
from router.routing.decision import RouteRequest, decide
from router.routing.speed import SharedSpeeds, SpeedBook
from router.routing.spread import Spreader
from tests.conftest import (
    RedisServer,
    free_port,
    prepare_database,
    start_gateway,
    start_llama_server,
)
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.settings import Settings

PRICE = {"input_cost_per_token": 1e-9, "output_cost_per_token": 1e-9}
DELAY = 0.5


def plan(snapshot: CatalogSnapshot, speeds: SpeedBook | None, **controls: Any) -> Any:
    request = RouteRequest(
        "auto", "hello", 1, 100, frozenset(), RouteControls.model_validate(controls)
    )
    return decide(request, snapshot, CatalogQualityEstimator(), frozenset(), None, speeds)


def test_measured_speed_feeds_estimated_seconds_and_fastest(snapshot: CatalogSnapshot) -> None:
    speeds = SpeedBook()
    before = plan(snapshot, speeds, strategy="fastest")
    slowest = before.candidates[len(before.candidates) - 1]
    assert slowest.as_dict()["speed"] == "assumed"
    # Measured: 100 tokens in 0.1 s after a 0.01 s first token — faster than anything assumed.
    for _ in range(3):
        speeds.observe(slowest.deployment.id, 0.11, 100, ttft=0.01)
    after = plan(snapshot, speeds, strategy="fastest")
    fastest = after.candidates[0]
    assert fastest.deployment.name == slowest.deployment.name
    shown = fastest.as_dict()
    assert shown["speed"] == "measured" and shown["tokens_per_second"] == pytest.approx(1000)
    assert shown["ttft_seconds"] == pytest.approx(0.01)
    assert shown["estimated_seconds"] == pytest.approx(0.01 + 100 / 1000, abs=1e-3)


def test_near_equal_deployments_share_and_the_slow_one_loses(snapshot: CatalogSnapshot) -> None:
    speeds = SpeedBook()
    spreader = Spreader(speeds, rng=random.Random(7))
    a, b, c = plan(snapshot, speeds).candidates[:3]
    speeds.observe(a.deployment.id, 1.0, 50)
    speeds.observe(b.deployment.id, 1.0, 50)
    # Not yet measured comes first, so every deployment gets measured.
    assert spreader.arrange([a, b, c])[0] is c
    speeds.observe(c.deployment.id, 1.0, 50)
    # Fewest in flight first.
    spreader.begin(a.deployment.id)
    spreader.begin(b.deployment.id)
    assert spreader.arrange([a, b, c])[0] is c
    spreader.end(a.deployment.id)
    spreader.end(b.deployment.id)
    assert spreader.inflight == {}
    # Idle, they share in proportion to expected speed: 1 s against 4 s.
    quick, slow = a._replace(seconds=1.0), b._replace(seconds=4.0)
    firsts = collections.Counter(spreader.arrange([quick, slow])[0].seconds for _ in range(2000))
    assert 0.15 < firsts[4.0] / 2000 < 0.25  # 1/4 : 1/1 of the weight → 20%


def test_one_clear_cheapest_is_left_alone(snapshot: CatalogSnapshot) -> None:
    speeds = SpeedBook()
    decision = plan(snapshot, speeds)
    assert Spreader(speeds, tolerance=0.0).order(decision) is decision
    assert Spreader(speeds).order(plan(snapshot, speeds, strategy="best")).strategy == "best"


def test_replicas_share_speeds_through_redis(redis_server: RedisServer) -> None:
    import asyncio

    import redis.asyncio as aioredis

    async def run() -> None:
        a_client = aioredis.from_url(redis_server.url)
        b_client = aioredis.from_url(redis_server.url)
        a = SharedSpeeds(a_client, prefix="spread-test")
        b = SharedSpeeds(b_client, prefix="spread-test")
        a.observe(42, 2.0, 100)  # 50 tokens/s on replica a
        b.observe(42, 1.0, 100)  # 100 tokens/s on replica b
        await a.sync()
        await b.sync()
        await a.sync()
        for book in (a, b):
            merged = book.get(42)
            assert merged is not None and merged.samples == 2
            assert merged.tokens_per_second == pytest.approx(75)
        await a_client.aclose()
        await b_client.aclose()

    asyncio.run(run())


@pytest.fixture(scope="module")
def two_llamas(
    tmp_path_factory: pytest.TempPathFactory, llama_server: ServerProcess
) -> Iterator[tuple[ServerProcess, str]]:
    folder: Path = tmp_path_factory.mktemp("spread")
    second = start_llama_server(folder)
    port = free_port()
    slow = ServerProcess(
        ["-m", "tests.delay_proxy", str(port), second.base_url, str(DELAY)],
        port,
        "/v1/models",
        folder / "proxy.log",
    )
    url = f"sqlite:///{folder / 'modelyard.db'}"
    deployments = [
        {"name": "test/llama-fast", "base_url": f"{llama_server.base_url}/v1"},
        {"name": "test/llama-slow", "base_url": f"{slow.base_url}/v1"},
    ]
    common = {"model": "smollm2", "served_name": "smollm2", **PRICE}
    secrets = prepare_database(url, folder, [{**common, **d} for d in deployments], {"k": {}})
    engine, factory = session_factory_for(Settings(database_url=url))
    with transaction(factory) as session:
        disabled = DeploymentPatch(status="disabled")  # the embedded copy is free: not it
        service.update_deployment(session, "embedded/smollm2-135m-instruct", disabled)
    engine.dispose()
    gateway = start_gateway(folder, {"MODELYARD_DATABASE_URL": url}, "spread")
    try:
        yield gateway, secrets["k"]
    finally:
        gateway.stop()
        slow.stop()
        second.stop()


def test_two_llama_servers_share_traffic_and_the_slow_one_loses_share(
    two_llamas: tuple[ServerProcess, str],
) -> None:
    gateway, key = two_llamas
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 4,
    }
    headers = {"Authorization": f"Bearer {key}"}

    def ask(_: int) -> str:
        answer = httpx.post(
            f"{gateway.base_url}/v1/chat/completions", json=body, headers=headers, timeout=60
        )
        assert answer.status_code == 200, answer.text
        return answer.headers["x-modelyard-deployment"]

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        served = collections.Counter(pool.map(ask, range(24)))
    print(f"\nrequests per deployment: {dict(served)}")
    assert served["test/llama-fast"] > 0 and served["test/llama-slow"] > 0
    assert served["test/llama-slow"] < served["test/llama-fast"]

    plan = httpx.post(f"{gateway.base_url}/v1/route", json=body, headers=headers).json()
    shown = {c["deployment"]: c for c in plan["candidates"]}
    fast, slow = shown["test/llama-fast"], shown["test/llama-slow"]
    assert fast["speed"] == slow["speed"] == "measured"
    assert slow["tokens_per_second"] < fast["tokens_per_second"]
    assert slow["estimated_seconds"] > fast["estimated_seconds"]
