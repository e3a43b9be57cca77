"""Parts of the gateway benchmark (tests/perf/test_chat_surface_perf.py) that A/B runs share:
the bare aiohttp pass-through reference, the gateway under a chosen server and worker count,
wrk runs taken in turn so that every figure compared was measured under the same load, and
the gateway's own overhead read back from its answers' header and from /metrics."""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.perf.test_router_perf import _wrk
from tests.servers import ServerProcess


def load() -> str:
    """The machine's load average as `uptime` shows it: other work skews every figure."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def cores() -> int:
    return len(os.sched_getaffinity(0))


def passthrough(folder: Path, upstream: str) -> ServerProcess:
    port = free_port()
    args = ["-m", "tests.perf.passthrough", str(port), upstream]
    return ServerProcess(args, port, "/ready", folder / f"passthrough-{port}.log")


def gateway(
    folder: Path,
    database_url: str,
    *,
    server: str = "uvicorn",
    workers: int | None = 1,
    redis_url: str | None = None,
    name: str = "gateway",
    tree: Path | None = None,
) -> ServerProcess:
    """`modelyard serve` (of this checkout, or of the source `tree` of another revision)."""
    port = free_port()
    env = {
        "MODELYARD_DATABASE_URL": database_url,
        "MODELYARD_LOG_LEVEL": "warning",
        "MODELYARD_SERVER": server,
    }
    if redis_url:
        env["MODELYARD_REDIS_URL"] = redis_url
    args = ["-m", "web", "serve", "--port", str(port)]
    if workers is not None:  # an older revision may not know the option
        args += ["--workers", str(workers)]
    log = folder / f"{name}-{port}.log"
    if tree is None:
        return ServerProcess(args, port, "/readyz", log, env=env)
    return ServerProcess(args, port, "/readyz", log, env={**env, "PYTHONPATH": str(tree)}, cwd=tree)


@dataclass(frozen=True)
class Target:
    url: str
    script: Path


def in_turn(
    targets: Mapping[str, Target], key: str, connections: int, seconds: int, rounds: int
) -> dict[str, list[tuple[float, float]]]:
    """(req/s, median ms) per round for each target, the targets taken in turn each round."""
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, target in targets.items():
            found[name].append(_wrk(target.url, key, connections, seconds, target.script))
    return found


def median_rate(runs: list[tuple[float, float]]) -> float:
    return statistics.median(rate for rate, _ in runs)


def median_ms(runs: list[tuple[float, float]]) -> float:
    return statistics.median(ms for _, ms in runs)


def paired_delta_ms(runs: list[tuple[float, float]], reference: list[tuple[float, float]]) -> float:
    """The median of each round's difference in median latency."""
    return statistics.median(a[1] - b[1] for a, b in zip(runs, reference, strict=True))


def paired_ratio(runs: list[tuple[float, float]], reference: list[tuple[float, float]]) -> float:
    """The median of each round's throughput ratio."""
    return statistics.median(a[0] / b[0] for a, b in zip(runs, reference, strict=True))


def overhead_header_ms(base: str, key: str, body: dict[str, object], count: int = 200) -> float:
    """The median `x-modelyard-overhead-ms` over `count` requests in a row."""
    values = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        for _ in range(count):
            answer = client.post("/v1/chat/completions", json=body)
            assert answer.status_code == 200, answer.text
            values.append(float(answer.headers["x-modelyard-overhead-ms"]))
    return statistics.median(values)


def overhead_histogram(base: str, path: str = "/v1/chat/completions") -> tuple[int, float]:
    """(requests, mean overhead in ms) from the modelyard_overhead_seconds histogram."""
    text = httpx.get(base + "/metrics", timeout=10).text
    label = f'{{path="{path}"}}'
    count = re.search(rf"modelyard_overhead_seconds_count{re.escape(label)} ([\d.e+]+)", text)
    total = re.search(rf"modelyard_overhead_seconds_sum{re.escape(label)} ([\d.e+-]+)", text)
    assert count is not None and total is not None, text[-2000:]
    requests = int(float(count.group(1)))
    return requests, float(total.group(1)) / max(requests, 1) * 1000
