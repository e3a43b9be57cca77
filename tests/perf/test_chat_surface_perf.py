"""What the whole chat request costs the gateway, printed for the closing note (`make bench`);
nothing here asserts a time. The targets are ratios against references measured in the same
run (docs/operations/performance.md).

- Plain requests against a bare aiohttp pass-through to the same fixed-answer nginx upstream
  (tests/perf/passthrough.py) and against nginx itself, the three taken in turn each round:
  req/s at 32 connections and the ratio to the pass-through; median latency at 1 connection
  and the difference. Then requests with 10 tools and a json_schema response format, and the
  gateway's own account of its overhead (the x-modelyard-overhead-ms header and the
  modelyard_overhead_seconds histogram). MODELYARD_BENCH_GRANIAN=1 adds the same gateway under
  Granian; MODELYARD_BENCH_BASELINE=<git revision> measures that revision's gateway in the
  same run on the same plain request, for a before/after figure.
- Streaming: time to the first content chunk, routed against direct, and chunks per second
  relayed, for a fixed stream of 1,000 chunks from three upstreams: one that writes each event
  as it comes, as inference servers do (tests/perf/event_upstream.py), the same with its first
  ten events 1 ms apart (the gateway's own delay, without the client waiting for a core), and
  nginx sending it as one file, a single burst. Read by a lean socket client (see
  LeanStreamClient).
- Workers: `serve --workers 2` against `--workers 1`, both with Redis, at 64 connections.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RedisServer, free_port, prepare_database
from tests.perf import gateway_bench
from tests.perf.gateway_bench import Target
from tests.perf.test_router_perf import COMPLETION, _wrk
from tests.servers import REPO, ServerProcess

pytestmark = pytest.mark.slow
CHUNKS = 1000
CONTENT = b'"content": "w'  # in every content chunk of the benchmark's stream, and only there
BURST_MODEL = "mistral-7b-instruct"  # the deployment on nginx's whole-file stream
EVENTS_MODEL = "llama-2-7b-chat"  # the deployment on tests/perf/event_upstream.py
PACED_MODEL = "llama-2-13b-chat"  # the same upstream, its first events 1 ms apart

NGINX_CONF = """
daemon off;
user {user};
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /json/ {{
            default_type application/json;
            return 200 '{completion}';
        }}
        location = /sse/v1/chat/completions {{
            default_type text/event-stream;
            alias {root}/stream.txt;
            error_page 405 =200 $uri;
        }}
    }}
}}
"""


def _stream_body() -> str:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        data = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(data)}\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": f"w{i} "}) for i in range(CHUNKS)]
    events.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 5, "completion_tokens": CHUNKS, "total_tokens": CHUNKS + 5}
    tail = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "choices": []}
    events.append(f"data: {json.dumps({**tail, 'usage': usage})}\n\n")
    return "".join(events) + "data: [DONE]\n\n"


def _tools_body() -> dict[str, Any]:
    tools = [
        {
            "type": "function",
            "function": {
                "name": f"tool_{i}",
                "description": f"Tool number {i}, which looks something up.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "what to look up"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
                        "mode": {"type": "string", "enum": ["fast", "exact"]},
                    },
                    "required": ["query"],
                    "additionalProperties": False,
                },
            },
        }
        for i in range(10)
    ]
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        "required": ["answer", "confidence"],
        "additionalProperties": False,
    }
    return {
        "model": "phi-2",
        "messages": [{"role": "user", "content": "ping"}],
        "tools": tools,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": schema, "strict": True},
        },
        "route": {"privacy": "local_only"},
    }


def _script(path: Path, body: dict[str, Any]) -> Path:
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [[{json.dumps(body)}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer " .. os.getenv("MODELYARD_KEY")\n'
    )
    return path


def _baseline_tree(revision: str, folder: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", revision], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _baseline_env(url: str) -> dict[str, str]:
    env = {**os.environ, "MODELYARD_DATABASE_URL": url, "MODELYARD_LOG_LEVEL": "warning"}
    # The suite's settings name values an older revision may not know (it read the
    # estimator setting as a file path): the baseline runs on its own defaults.
    for name in ("MODELYARD_QUALITY_ESTIMATOR", "MODELYARD_AUTO_NEED"):
        env.pop(name, None)
    return env


def _baseline_database(tree: Path, folder: Path, upstream: str) -> tuple[str, str]:
    """The baseline's own database, made by its own commands (its schema, seed and licence
    data differ from this branch's): the same fixed-answer deployment and a key. Returns the
    URL and the key."""
    url = f"sqlite:///{folder / 'baseline.db'}"

    def run(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "web", *args],
            cwd=tree,
            env=_baseline_env(url),
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    run("db", "upgrade")
    run("catalog", "seed")
    bench = ["--name", "bench/json", "--model", "phi-2", "--kind", "local", "--url", upstream]
    run("deployments", "add", *bench, "--served-name", "bench")
    created = run("keys", "create", "--name", "bench", "--policy", '{"privacy": "any"}')
    return url, created.strip().splitlines()[-1]


def _serve(cwd: Path, url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "web", "serve", "--port", str(port)],
        cwd=cwd,
        env=_baseline_env(url),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/readyz", timeout=1)
            return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(log.read_text()[-2000:])


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[str]:
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()) or not shutil.which("wrk"):
        pytest.fail("the benchmark needs nginx and wrk: `make bench` installs them")
    port = free_port()
    (tmp_path / "stream.txt").write_text(_stream_body())
    # Workers run as the test's user: nginx's default user cannot read the test's folder.
    user = pwd.getpwuid(os.getuid()).pw_name
    (tmp_path / "nginx.conf").write_text(
        NGINX_CONF.format(root=tmp_path, port=port, completion=json.dumps(COMPLETION), user=user)
    )
    process = subprocess.Popen(["/usr/sbin/nginx", "-c", str(tmp_path / "nginx.conf")])
    time.sleep(0.5)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def events(tmp_path: Path) -> Iterator[ServerProcess]:
    """tests/perf/event_upstream.py: the stream written one event at a time."""
    server = ServerProcess(
        ["-m", "tests.perf.event_upstream", str(port := free_port())],
        port,
        "/ready",
        tmp_path / "events.log",
    )
    yield server
    server.stop()


def test_whole_requests_and_streams(tmp_path: Path, nginx: str, events: ServerProcess) -> None:
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    key = _bench_database(url, tmp_path, nginx, events)
    gateway = gateway_bench.gateway(tmp_path, url, workers=1)
    bare = gateway_bench.passthrough(tmp_path, f"{nginx}/json")
    # MODELYARD_BENCH_GRANIAN=1: the same gateway under Granian instead of uvicorn, in turn.
    granian = (
        gateway_bench.gateway(tmp_path, url, server="granian", workers=1, name="granian")
        if os.environ.get("MODELYARD_BENCH_GRANIAN")
        else None
    )
    plain_lua = _script(tmp_path / "plain.lua", PLAIN)
    tools_lua = _script(tmp_path / "tools.lua", _tools_body())
    routed = f"{gateway.base_url}/v1/chat/completions"
    targets = {
        "nginx direct": Target(f"{nginx}/json/v1/chat/completions", plain_lua),
        "bare aiohttp pass-through": Target(bare.base_url + "/v1/chat/completions", plain_lua),
        "gateway": Target(routed, plain_lua),
    }
    if granian is not None:
        targets["gateway on granian"] = Target(granian.base_url + "/v1/chat/completions", plain_lua)
    baseline = os.environ.get("MODELYARD_BENCH_BASELINE")
    old: subprocess.Popen[bytes] | None = None
    try:
        _wrk(routed, key, 32, 3, tools_lua)  # warm-up (and the schema checks' cache)
        gateway_bench.in_turn(targets, key, 32, 2, 1)
        # Each figure against the pass-through measured in the same round, the rounds in turn:
        # the machine's drift over a run is larger than the differences compared.
        at32 = gateway_bench.in_turn(targets, key, 32, 8, 3)
        said = gateway_bench.load()
        at1 = gateway_bench.in_turn(targets, key, 1, 2, 6)
        reference = "bare aiohttp pass-through"
        print(f"\nplain chat, one worker ({said} at 32 connections, {gateway_bench.load()} after):")
        for name in targets:
            print(
                f"  {name:28} {gateway_bench.median_rate(at32[name]):6.0f} req/s at 32 conn "
                f"({gateway_bench.paired_ratio(at32[name], at32[reference]):.2f}x the pass-through)"
                f", {gateway_bench.median_ms(at1[name]):.3f} ms median at 1 conn "
                f"({gateway_bench.paired_delta_ms(at1[name], at1[reference]):+.3f} ms)"
            )
        tools_rate, _ = _wrk(routed, key, 32, 8, tools_lua)
        turns = [(_wrk(routed, key, 1, 2, plain_lua), _wrk(routed, key, 1, 2, tools_lua))]
        turns += [(_wrk(routed, key, 1, 2, plain_lua), _wrk(routed, key, 1, 2, tools_lua))]
        tools_added = statistics.median(t[1][1] - t[0][1] for t in turns)
        print(
            f"  10 tools + json_schema: {tools_rate:.0f} req/s at 32 conn, "
            f"{tools_added:+.3f} ms over plain at 1 conn"
        )
        header = gateway_bench.overhead_header_ms(gateway.base_url, key, PLAIN)
        count, mean = gateway_bench.overhead_histogram(gateway.base_url)
        print(
            f"  the gateway's own account: x-modelyard-overhead-ms median {header:.3f} ms over "
            f"200 requests one at a time; modelyard_overhead_seconds mean {mean:.3f} ms over "
            f"all {count} requests of this run (at 32 connections it includes waiting in line)"
        )
        if baseline:
            tree = _baseline_tree(baseline, tmp_path / "baseline")
            old_db, old_key = _baseline_database(tree, tmp_path, f"{nginx}/json/v1")
            old, old_base = _serve(tree, old_db, tmp_path / "baseline.log")
            old_url = f"{old_base}/v1/chat/completions"
            _wrk(old_url, old_key, 32, 3, plain_lua)
            old_rate, _ = _wrk(old_url, old_key, 32, 10, plain_lua)
            again_rate, _ = _wrk(routed, key, 32, 10, plain_lua)
            _, old_ms = _wrk(old_url, old_key, 1, 10, plain_lua)
            print(
                f"  baseline {baseline}: plain {old_rate:.0f} req/s, {old_ms:.3f} ms; this "
                f"branch again {again_rate:.0f} req/s ({again_rate / old_rate - 1:+.1%})"
            )
        _streams(
            [
                ("one write per event", events.base_url, "/v1/chat/completions", EVENTS_MODEL),
                (
                    "first 10 events 1 ms apart",
                    events.base_url,
                    "/paced/v1/chat/completions",
                    PACED_MODEL,
                ),
                ("one 200 KB burst (nginx)", nginx, "/sse/v1/chat/completions", BURST_MODEL),
            ],
            gateway.base_url,
            key,
        )
    finally:
        gateway.stop()
        bare.stop()
        if granian is not None:
            granian.stop()
        if old is not None:
            old.terminate()
            old.wait(timeout=10)


def test_workers(tmp_path: Path, nginx: str, events: ServerProcess) -> None:
    """`serve --workers 2` against `--workers 1`, both sharing state through Redis, at 64
    connections, in turn. On a machine whose cores also run wrk and nginx the ratio is below
    what two free cores give."""
    redis = RedisServer(tmp_path)
    redis.start()
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    key = _bench_database(url, tmp_path, nginx, events)
    plain_lua = _script(tmp_path / "plain.lua", PLAIN)
    servers = {
        n: gateway_bench.gateway(tmp_path, url, workers=n, redis_url=redis.url, name=f"w{n}")
        for n in (1, 2)
    }
    try:
        targets = {
            f"--workers {n}": Target(f"{s.base_url}/v1/chat/completions", plain_lua)
            for n, s in servers.items()
        }
        gateway_bench.in_turn(targets, key, 64, 3, 1)  # warm-up
        runs = gateway_bench.in_turn(targets, key, 64, 8, 3)
        one, two = runs["--workers 1"], runs["--workers 2"]
        print(
            f"\nworkers, plain chat at 64 connections with Redis ({gateway_bench.load()}, "
            f"{gateway_bench.cores()} cores): --workers 1 {gateway_bench.median_rate(one):.0f} "
            f"req/s, --workers 2 {gateway_bench.median_rate(two):.0f} req/s "
            f"({gateway_bench.paired_ratio(two, one):.2f}x)"
        )
    finally:
        for server in servers.values():
            server.stop()
        redis.stop()


PLAIN = {
    "model": "phi-2",
    "messages": [{"role": "user", "content": "ping"}],
    "route": {"privacy": "local_only"},
}


def _bench_database(url: str, folder: Path, nginx: str, events: ServerProcess) -> str:
    """The benchmark's deployments (nginx's answer and stream, the per-event stream) and key."""
    every = ["tools", "parallel_tools", "tool_choice", "json_mode", "json_schema"]
    return prepare_database(
        url,
        folder,
        [
            {
                "name": "bench/json",
                "model": "phi-2",
                "base_url": f"{nginx}/json/v1",
                "served_name": "bench",
                "capabilities": every,
            },
            {
                "name": "bench/sse",
                "model": BURST_MODEL,
                "base_url": f"{nginx}/sse/v1",
                "served_name": "bench",
            },
            {
                "name": "bench/events",
                "model": EVENTS_MODEL,
                "base_url": f"{events.base_url}/v1",
                "served_name": "bench",
            },
            {
                "name": "bench/paced",
                "model": PACED_MODEL,
                "base_url": f"{events.base_url}/paced/v1",
                "served_name": "bench",
            },
        ],
        # The policy names its privacy rule: the baseline revision predates `auto`, the
        # default for new keys, and would answer every request with a 400.
        {"bench": {"privacy": "any"}},
    )["bench"]


class LeanStreamClient:
    """Reads a stream over one kept-alive socket and does little else. A Python HTTP client
    (httpx, ~0.7 ms a request) competes for this machine's two cores with the gateway and
    slowed it by half, so it measured itself as much as the gateway."""

    def __init__(self, base: str, key: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port, self.key = host, int(port), key
        self.sock = socket.create_connection((host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.sock.close()

    def first_and_rate(self, path: str, body: dict[str, Any]) -> tuple[float, float]:
        """Seconds to the first content chunk, and content chunks a second after it."""
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        start = time.perf_counter()
        self.sock.sendall(head + payload)
        received = bytearray()
        first = 0.0
        body_at, length = -1, -1  # length -1: chunked
        while True:
            data = self.sock.recv(1 << 20)
            if not data:
                raise RuntimeError("the server closed the connection mid-stream")
            seen = len(received)
            received += data
            if not first and CONTENT in received[max(0, seen - len(CONTENT)) :]:
                first = time.perf_counter() - start
            if body_at < 0 and (end := received.find(b"\r\n\r\n")) >= 0:
                body_at = end + 4
                headers = bytes(received[:end]).lower()
                assert headers.startswith(b"http/1.1 200"), headers
                if b"content-length:" in headers:
                    length = int(headers.split(b"content-length:")[1].split(b"\r\n")[0])
            if body_at < 0:
                continue
            if length >= 0 and len(received) - body_at >= length:
                break
            if length < 0 and received.endswith(b"0\r\n\r\n"):  # the last chunk
                break
        total = time.perf_counter() - start
        count = received.count(CONTENT)
        assert count == CHUNKS, count
        return first, count / (total - first) if total > first else float("inf")


def _streams(targets: list[tuple[str, str, str, str]], gateway: str, key: str) -> None:
    """For each (label, upstream, its path, catalog model), the same stream asked for
    directly and through the gateway, interleaved, by the lean client."""
    for label, upstream, path, model in targets:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": "ping"}],
            "stream": True,
            "route": {"privacy": "local_only"},
        }
        clients = {
            "direct": LeanStreamClient(upstream, key),
            "routed": LeanStreamClient(gateway, key),
        }
        paths = {"direct": path, "routed": "/v1/chat/completions"}
        results: dict[str, list[tuple[float, float]]] = {"direct": [], "routed": []}
        try:
            for turn in range(45):
                for name, client in clients.items():
                    measured = client.first_and_rate(paths[name], body)
                    if turn >= 5:  # the first five warm up
                        results[name].append(measured)
        finally:
            for client in clients.values():
                client.close()
        first = {n: statistics.median(r[0] for r in rs) * 1000 for n, rs in results.items()}
        rate = {n: statistics.median(r[1] for r in rs) for n, rs in results.items()}
        print(
            f"\nstreaming {CHUNKS} chunks, {label}: first content chunk {first['routed']:.3f} ms "
            f"routed vs {first['direct']:.3f} ms direct "
            f"(+{first['routed'] - first['direct']:.3f} ms); {rate['routed']:.0f} chunks/s "
            f"relayed vs {rate['direct']:.0f} read direct ({rate['routed'] / rate['direct']:.0%})"
        )
