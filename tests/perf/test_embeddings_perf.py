"""Embeddings through the API vs WordLlama called directly, in the same run. `make bench`;
prints the figures, asserts nothing about time.

The reference is the package itself: `WordLlama.embed(batch, norm=True)` on batches of 64
short sentences in this process. The API side is a real `modelyard serve` process on the
embedded default, asked for the same batches over HTTP (base64, as the openai SDK asks), one
connection at a time and then four at once, by httpx (as the openai SDK would) and then by
wrk, whose own CPU is negligible: on two cores a Python client takes a third of the machine
from the server it measures. Target: at least 80% of the direct rate.

CPU time per batch is printed beside the rates (the server process's from /proc, the direct
call's and the client's from this process): on a machine shared with other work, rates
move with the load while CPU per batch says where the time goes.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from adapters.wordllama import package_folder
from tests.conftest import prepare_database, start_gateway
from tests.perf.test_router_perf import _wrk

pytestmark = pytest.mark.slow

BATCH = 64
ROUNDS = 200
WORDS = "router model vector catalog licence budget token quality latency search index query"


def batches(count: int) -> list[list[str]]:
    words = WORDS.split()
    return [
        [
            f"{words[(b + i) % len(words)]} {i} says {words[(b * 7 + i) % len(words)]} in batch {b}"
            for i in range(BATCH)
        ]
        for b in range(count)
    ]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_embeddings_api_throughput_vs_wordllama_direct(tmp_path: Path) -> None:
    from wordllama import WordLlama

    if not shutil.which("wrk"):
        pytest.fail("the benchmark needs wrk: `make bench` installs it")
    work = batches(ROUNDS)
    direct = WordLlama.load("l2_supercat", cache_dir=package_folder(), disable_download=True)
    for batch in work[:10]:
        direct.embed(batch, norm=True)
    start, cpu = time.perf_counter(), time.process_time()
    for batch in work:
        direct.embed(batch, norm=True)
    direct_rate = ROUNDS * BATCH / (time.perf_counter() - start)
    direct_cpu = (time.process_time() - cpu) / ROUNDS

    def direct_again() -> float:
        begin = time.perf_counter()
        for batch in work:
            direct.embed(batch, norm=True)
        return ROUNDS * BATCH / (time.perf_counter() - begin)

    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    keys = prepare_database(url, tmp_path, api_keys={"bench": {}})
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_LOG_LEVEL": "warning"}
    server = start_gateway(tmp_path, env)
    headers = {"Authorization": f"Bearer {keys['bench']}"}
    endpoint = f"{server.base_url}/v1/embeddings"

    def run(client: httpx.Client, share: list[list[str]]) -> list[float]:
        times = []
        for batch in share:
            begin = time.perf_counter()
            response = client.post(
                endpoint,
                json={"model": "wordllama", "input": batch, "encoding_format": "base64"},
                headers=headers,
            )
            response.raise_for_status()
            times.append(time.perf_counter() - begin)
        return times

    try:
        with httpx.Client(timeout=60) as client:
            run(client, work[:20])  # load the model, warm the connection
            start = time.perf_counter()
            latencies = run(client, work)
            sequential_rate = ROUNDS * BATCH / (time.perf_counter() - start)
        connections = 4
        clients = [httpx.Client(timeout=60) for _ in range(connections)]
        shares = [work[i::connections] for i in range(connections)]
        with ThreadPoolExecutor(connections) as pool:
            start, cpu = time.perf_counter(), time.process_time()
            served = cpu_seconds(server.process.pid)
            list(pool.map(run, clients, shares))
            concurrent_rate = ROUNDS * BATCH / (time.perf_counter() - start)
            server_cpu = (cpu_seconds(server.process.pid) - served) / ROUNDS
            client_cpu = (time.process_time() - cpu) / ROUNDS
        for client in clients:
            client.close()
        # The same batches from wrk, which costs the two cores almost nothing: the figure
        # for the server itself. The direct rate is taken again right before and after.
        script = wrk_script(tmp_path, work, keys["bench"])
        before = direct_again()
        wrk_rate = _wrk(endpoint, keys["bench"], connections, 10, script)[0] * BATCH
        after = direct_again()
    finally:
        server.stop()
    around = (before + after) / 2
    print(
        f"\nembeddings, {ROUNDS} batches of {BATCH} short inputs: WordLlama direct "
        f"{direct_rate:,.0f} inputs/s; API one connection {sequential_rate:,.0f} inputs/s "
        f"({sequential_rate / direct_rate:.0%}, median {statistics.median(latencies) * 1000:.2f} "
        f"ms a batch); API {connections} connections {concurrent_rate:,.0f} inputs/s "
        f"({concurrent_rate / direct_rate:.0%} of direct; target 80%). CPU a batch: direct "
        f"{direct_cpu * 1000:.2f} ms; at {connections} connections server "
        f"{server_cpu * 1000:.2f} ms, client {client_cpu * 1000:.2f} ms; load average "
        f"{os.getloadavg()[0]:.2f}"
        f"\n  from wrk at {connections} connections: {wrk_rate:,.0f} inputs/s, "
        f"{wrk_rate / around:.0%} of direct measured around it ({before:,.0f} and "
        f"{after:,.0f} inputs/s; target 80%)"
    )


def wrk_script(folder: Path, work: list[list[str]], key: str) -> Path:
    """A wrk script that sends the batches in turn (one request body per line of a file)."""
    bodies = folder / "bodies.jsonl"
    bodies.write_text(
        "".join(
            json.dumps({"model": "wordllama", "input": b, "encoding_format": "base64"}) + "\n"
            for b in work
        )
    )
    script = folder / "embeddings.lua"
    script.write_text(
        "bodies = {}\n"
        f'for line in io.lines("{bodies}") do bodies[#bodies + 1] = line end\n'
        "turn = 0\n"
        "request = function()\n"
        "  turn = turn % #bodies + 1\n"
        '  local headers = {["Content-Type"] = "application/json",\n'
        f'    ["Authorization"] = "Bearer {key}"}}\n'
        '  return wrk.format("POST", nil, headers, bodies[turn])\n'
        "end\n"
    )
    return script
