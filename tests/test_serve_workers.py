"""`modelyard serve --workers N`: N processes on one port, which agree on rate limits, budgets,
health and the ledger through Redis exactly as replicas do. A real server with two workers,
real redis-server, the fault upstream; and the refusal of more than one worker without
Redis, where each process would keep limits of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from router.accounts.orm import UsageRecord
from tests.conftest import RedisServer, broken_then_priced, free_port, prepare_database
from tests.servers import REPO, ServerProcess
from web.app import session_factory_for
from web.settings import Settings

LIMIT = 12  # requests per minute for the rated key
ASK = {
    "model": "phi-2",
    "messages": [{"role": "user", "content": "hello"}],
    "max_tokens": 20,
    "route": {"privacy": "local_only", "exclude": ["smollm2"]},
}


@dataclass
class Workers:
    server: ServerProcess
    database_url: str
    keys: dict[str, str]

    def post(self, path: str, body: object, key: str) -> httpx.Response:
        return httpx.post(
            self.server.base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.keys[key]}"},
            timeout=30,
        )

    def many(self, count: int, key: str) -> list[httpx.Response]:
        """`count` requests at once, each on its own connection (so both workers take some)."""

        async def one() -> httpx.Response:
            async with httpx.AsyncClient(timeout=30) as client:
                return await client.post(
                    self.server.base_url + "/v1/chat/completions",
                    json=ASK,
                    headers={"Authorization": f"Bearer {self.keys[key]}"},
                )

        async def all_at_once() -> list[httpx.Response]:
            return list(await asyncio.gather(*(one() for _ in range(count))))

        return asyncio.run(all_at_once())


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(p) for p in found]


def worker_processes(pid: int) -> list[int]:
    """The server's children but multiprocessing's resource tracker."""
    found = []
    for child in children(pid):
        with contextlib.suppress(FileNotFoundError):
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


@pytest.fixture
def workers(
    tmp_path: Path, redis_server: RedisServer, fault_upstream: ServerProcess
) -> Iterator[Workers]:
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    deployments = broken_then_priced(fault_upstream)
    keys = prepare_database(
        url, tmp_path, deployments, {"rated": {"requests_per_minute": LIMIT}, "free": {}}
    )
    env = {
        "MODELYARD_DATABASE_URL": url,
        "MODELYARD_REDIS_URL": redis_server.url,
        "MODELYARD_LEDGER_FLUSH_SECONDS": "0.2",
    }
    port = free_port()
    args = ["-m", "web", "serve", "--port", str(port), "--workers", "2"]
    server = ServerProcess(args, port, "/readyz", tmp_path / "workers.log", env=env)
    kids: list[int] = []
    try:
        yield Workers(server, url, keys)
    finally:
        kids = children(server.process.pid) if server.process.poll() is None else []
        server.stop()
        left = [pid for pid in kids if not gone_within(pid, 10)]
        for pid in left:
            os.kill(pid, 9)
    assert not left, f"workers {left} outlived `serve`"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not Path(f"/proc/{pid}").exists()


def test_two_workers_on_one_port_keep_limits_health_and_ledger_exact(workers: Workers) -> None:
    deadline = time.monotonic() + 60
    while len(worker_processes(workers.server.process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(worker_processes(workers.server.process.pid)) == 2

    # Health: the broken deployment fails three times (on either worker) and cools down on
    # both: every dry run afterwards, on whichever worker, excludes it for its health.
    for _ in range(3):
        answered = workers.post("/v1/chat/completions", ASK, "free")
        assert answered.status_code == 200, answered.text
        assert answered.headers["x-modelyard-attempts"] == "2"  # fell back to the priced one
    reasons: list[str | None] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        plans = [workers.post("/v1/route", ASK, "free").json() for _ in range(10)]
        reasons = [
            {e["deployment"]: e["reason"] for e in plan["excluded"]}.get("test/phi-2-broken")
            for plan in plans
        ]
        if reasons == ["health"] * 10:
            break
        time.sleep(0.2)
    assert reasons == ["health"] * 10

    # Rate limit: 3x the key's requests per minute at once; exactly the limit is served,
    # whichever worker took each (per-process limits would serve up to twice as many).
    answers = workers.many(3 * LIMIT, "rated")
    served = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert len(served) == LIMIT, [a.status_code for a in answers]
    assert len(refused) == 2 * LIMIT

    # Ledger: every answer recorded exactly once, from both workers.
    ok = LIMIT + 3
    _, factory = session_factory_for(Settings(database_url=workers.database_url))
    count = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with factory() as session:
            count = session.scalar(
                select(func.count()).select_from(UsageRecord).where(UsageRecord.status == "ok")
            )
        if count == ok:
            break
        time.sleep(0.2)
    assert count == ok

    # The supervisor killed outright (SIGKILL, the OOM killer): its workers do not go on
    # serving on the port without it (serving.die_with_supervisor).
    pid = workers.server.process.pid
    kids = worker_processes(pid)
    os.kill(pid, signal.SIGKILL)
    workers.server.process.wait(timeout=10)
    assert all(gone_within(kid, 15) for kid in kids), kids


def test_more_than_one_worker_needs_redis(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    prepare_database(url, tmp_path)
    env = {**os.environ, "MODELYARD_DATABASE_URL": url}
    env.pop("MODELYARD_REDIS_URL", None)
    port = str(free_port())
    refused = subprocess.run(
        [sys.executable, "-m", "web", "serve", "--port", port, "--workers", "2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert "MODELYARD_REDIS_URL" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
