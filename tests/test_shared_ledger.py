"""The ledger through Redis: records survive a writer's crash and land once; Redis killed and
restarted under load loses nothing (a real redis-server and gateway process)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from router.accounts.orm import UsageRecord
from router.accounts.shared_ledger import SharedLedger
from tests.conftest import (
    RedisServer,
    echo_deployment,
    prepare_database,
    start_gateway,
)
from tests.servers import ServerProcess
from tests.test_ledger import entry
from web.app import session_factory_for
from web.settings import Settings


def count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(UsageRecord)) or 0)


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.mark.anyio
async def test_records_go_through_redis_once(
    sessions: sessionmaker[Session], client: aioredis.Redis
) -> None:
    ledger = SharedLedger(sessions, client, batch_size=3)
    for i in range(7):
        await ledger.add(entry(f"r{i}", "a/model", "0.000001"))
    assert ledger.pending == 0  # nothing waits in this process
    assert await client.llen(ledger.queue) == 7
    assert await ledger.flush() == 7
    assert count(sessions) == 7
    assert await client.llen(ledger.queue) == 0
    assert not await client.exists(ledger.processing)


@pytest.mark.anyio
async def test_a_crashed_writers_batch_is_written_by_another_exactly_once(
    sessions: sessionmaker[Session], client: aioredis.Redis
) -> None:
    crashed = SharedLedger(sessions, client, heartbeat=1)
    for i in range(4):
        await crashed.add(entry(f"c{i}", "a/model", "0"))
    # The writer claims the batch and writes it, then dies before dropping its list.
    await client.set(crashed.alive_prefix + crashed.writer, "1", ex=1)
    await crashed._claim(keys=[crashed.queue, crashed.processing], args=[10])
    from router.accounts.ledger import write_entries

    write_entries(sessions, [entry(f"c{i}", "a/model", "0") for i in range(2)])
    assert count(sessions) == 2
    time.sleep(1.1)  # its heartbeat expires
    survivor = SharedLedger(sessions, client)
    assert await survivor.flush() == 4  # all four written again; two were there already
    assert count(sessions) == 4
    assert not await client.exists(crashed.processing)


@pytest.mark.anyio
async def test_without_redis_records_take_the_local_path(sessions: sessionmaker[Session]) -> None:
    away = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    ledger = SharedLedger(sessions, away)
    await ledger.add(entry("x1", "a/model", "0"))
    assert ledger.pending == 1
    assert await ledger.flush() == 1
    assert count(sessions) == 1 and ledger.unavailable >= 2
    await away.aclose()


def test_redis_killed_and_restarted_under_load_loses_no_record(
    tmp_path: Path, fault_upstream: ServerProcess
) -> None:
    redis_server = RedisServer(tmp_path, durable=True)  # its own server: this test kills it
    redis_server.start()
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    priced = echo_deployment(fault_upstream, input_cost_per_token=1e-9, output_cost_per_token=1e-9)
    policy = {"requests_per_minute": 100_000, "budget_usd_per_day": 100}
    key = prepare_database(url, tmp_path, [priced], {"load": policy})["load"]
    engine, factory = session_factory_for(Settings(database_url=url))
    gateway = start_gateway(
        tmp_path,
        {
            "MODELYARD_DATABASE_URL": url,
            "MODELYARD_REDIS_URL": redis_server.url,
            "MODELYARD_LEDGER_FLUSH_SECONDS": "0.2",
        },
    )
    body = {
        "model": "phi-2",
        "messages": [{"role": "user", "content": "hello"}],
        "route": {"privacy": "local_only", "exclude": ["smollm2"]},
    }
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                answer = http.post(
                    f"{gateway.base_url}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                )
                statuses.append(answer.status_code)

    workers = [threading.Thread(target=load) for _ in range(4)]
    try:
        for worker in workers:
            worker.start()
        time.sleep(1.0)
        redis_server.stop()  # SIGKILL: limits fail open, new records take the local path
        time.sleep(1.0)
        redis_server.start()  # same port and files: what it had acknowledged is still there
        time.sleep(1.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    try:
        ready = httpx.get(f"{gateway.base_url}/readyz").json()
        assert ready["redis"] == "ok"  # back, and the outage was counted
        assert sum(ready["redis_unavailable_events"].values()) > 0
        assert statuses and set(statuses) == {200}, sorted(set(statuses))
        deadline = time.monotonic() + 10
        while count(factory) < len(statuses) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert count(factory) == len(statuses)  # every answered request, exactly once
    finally:
        gateway.stop()
        redis_server.stop()
        engine.dispose()
    log = (tmp_path / "gateway.log").read_text()
    assert "redis unavailable" in log and "Traceback" not in log


def test_a_replica_killed_under_load_leaves_exactly_one_row_per_answer(
    tmp_path: Path, fault_upstream: ServerProcess, redis_server: RedisServer
) -> None:
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    key = prepare_database(url, tmp_path, [echo_deployment(fault_upstream)], {"load": {}})["load"]
    engine, factory = session_factory_for(Settings(database_url=url))
    env = {
        "MODELYARD_DATABASE_URL": url,
        "MODELYARD_REDIS_URL": redis_server.url,
        "MODELYARD_LEDGER_FLUSH_SECONDS": "0.2",
    }
    replicas = [start_gateway(tmp_path, env, f"replica-{i}") for i in range(2)]
    body = {
        "model": "phi-2",
        "messages": [{"role": "user", "content": "hello"}],
        "route": {"privacy": "local_only", "exclude": ["smollm2"]},
    }
    answered: list[str] = []  # route ids of answers a client saw complete
    stop = threading.Event()

    def load(replica: ServerProcess) -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                try:
                    answer = http.post(
                        f"{replica.base_url}/v1/chat/completions",
                        json=body,
                        headers={"Authorization": f"Bearer {key}"},
                    )
                except httpx.TransportError:
                    continue  # the killed replica: nothing seen complete
                if answer.status_code == 200:
                    answered.append(answer.headers["x-modelyard-route-id"])

    workers = [threading.Thread(target=load, args=(replicas[i % 2],)) for i in range(4)]
    try:
        for worker in workers:
            worker.start()
        time.sleep(1.0)
        replicas[0].kill()  # SIGKILL, mid-load
        time.sleep(1.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    try:
        # The survivor writes what the dead replica left once its heartbeat (10 s) is gone.
        deadline = time.monotonic() + 25
        while True:
            with factory() as session:  # a new session each time: a new snapshot to read
                grouped = select(UsageRecord.route_id, func.count()).group_by(UsageRecord.route_id)
                rows = dict(session.execute(grouped).all())
            missing = [r for r in answered if r not in rows]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answered and not missing, f"{len(missing)} of {len(answered)} answers unrecorded"
        assert all(rows[r] == 1 for r in answered)
        print(
            f"\nreplica SIGKILLed under load: {len(answered)} answers seen by clients, each with"
            f" exactly one ledger row; {len(rows)} rows in all"
        )
    finally:
        for replica in replicas:
            replica.stop()
        engine.dispose()
