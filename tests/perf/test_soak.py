"""Sustained load through two replicas, streaming and not: memory and open files stay flat
after warm-up, latency stays bounded, and every answer has its ledger row. Bounded here
(MODELYARD_SOAK_REQUESTS, default 2,000); set it higher for a longer soak. A soak, so it runs
on demand with the benchmarks (`make bench`), not in the default suite: it held one worker
for ~30 s, and its latency bound reads the machine as much as the code."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from router.accounts.orm import UsageRecord
from tests.conftest import (
    RedisServer,
    echo_deployment,
    prepare_database,
    start_gateway,
)
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.settings import Settings

pytestmark = pytest.mark.slow

REQUESTS = int(os.environ.get("MODELYARD_SOAK_REQUESTS", "2000"))
CONCURRENCY = 16


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def drive(bases: list[str], key: str, count: int) -> list[float]:
    """`count` requests over the replicas, every third one streamed; latencies in seconds."""
    latencies: list[float] = []
    body = {
        "model": "phi-2",
        "messages": [{"role": "user", "content": "soak test"}],
        "route": {"privacy": "local_only", "exclude": ["smollm2"]},
    }
    headers = {"Authorization": f"Bearer {key}"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            url = f"{bases[i % len(bases)]}/v1/chat/completions"
            started = time.perf_counter()
            if i % 3 == 0:
                async with session.post(url, json={**body, "stream": True}, headers=headers) as r:
                    assert r.status == 200
                    lines = [line async for line in r.content if line.strip()]
                    assert lines[-1].strip() == b"data: [DONE]"
            else:
                async with session.post(url, json=body, headers=headers) as r:
                    assert r.status == 200, await r.text()
                    await r.read()
            latencies.append(time.perf_counter() - started)

    # aiohttp's client: httpx's took as much CPU as both replicas together, on the same two cores.
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
    return latencies


def test_sustained_load_through_two_replicas(
    tmp_path: Path, fault_upstream: ServerProcess, redis_server: RedisServer
) -> None:
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    policy = {"requests_per_minute": 1_000_000}
    key = prepare_database(url, tmp_path, [echo_deployment(fault_upstream)], {"soak": policy})
    engine, factory = session_factory_for(Settings(database_url=url))
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_REDIS_URL": redis_server.url}
    replicas = [start_gateway(tmp_path, env, f"replica-{i}") for i in range(2)]
    bases = [r.base_url for r in replicas]
    pids = [r.process.pid for r in replicas]
    try:
        asyncio.run(drive(bases, key["soak"], 500))  # warm-up: pools, caches, first allocations
        time.sleep(1.0)
        before = [(rss_kib(p), open_files(p)) for p in pids]
        latencies = asyncio.run(drive(bases, key["soak"], REQUESTS // 2))
        time.sleep(1.0)
        halfway = [open_files(p) for p in pids]
        latencies += asyncio.run(drive(bases, key["soak"], REQUESTS - REQUESTS // 2))
        time.sleep(1.0)
        after = [(rss_kib(p), open_files(p)) for p in pids]
        p50, p99 = (statistics.quantiles(latencies, n=100)[q] for q in (49, 98))
        print(
            f"\nsoak: {REQUESTS} requests ({CONCURRENCY} at a time, a third streamed) over two "
            f"replicas; p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; "
            f"RSS KiB before/after {before[0][0]}/{after[0][0]} and {before[1][0]}/{after[1][0]}; "
            f"open files {before[0][1]}/{halfway[0]}/{after[0][1]} and "
            f"{before[1][1]}/{halfway[1]}/{after[1][1]} (before/halfway/after)"
        )
        for (rss0, fds0), middle, (rss1, fds1) in zip(before, halfway, after, strict=True):
            assert rss1 < rss0 * 1.10, (rss0, rss1)
            # Connection pools (Redis, upstream) keep as many connections as the highest
            # concurrency they have seen, which a later moment of load can still raise by a
            # few (seen: +0 to +5): bounded by the concurrency. A leak grows with requests
            # and passes that bound within the run.
            assert fds1 <= fds0 + CONCURRENCY, (fds0, middle, fds1)
        assert p99 < 2.0
        deadline = time.monotonic() + 10
        expected = 500 + REQUESTS
        while True:
            with factory() as session:  # a new session each time: a new snapshot to read
                rows = int(session.scalar(select(func.count()).select_from(UsageRecord)) or 0)
            if rows >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert rows == expected
    finally:
        for replica in replicas:
            replica.stop()
        engine.dispose()
