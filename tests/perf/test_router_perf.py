"""Router speed, printed for the closing note (`make bench`); nothing here asserts a time.

- The decision on the seeded catalog and on 5,000 deployments (every priced chat model in
  litellm's cost map, twice: hosted and as a local server).
- The gateway against a direct call to the same fast upstream: nginx answering a fixed
  completion, loaded with wrk at 32 connections (req/s) and at 1 connection (median latency).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from types import MappingProxyType

import pytest

from catalog import service
from catalog.db import transaction
from catalog.prices import litellm_cost_map
from catalog.schemas import DeploymentIn
from catalog.snapshot import CatalogSnapshot, DeploymentView
from catalog.terms import DeploymentKind, DeploymentStatus, Privacy
from router.accounts import keys
from router.core.requests import RouteControls
from router.quality.estimators import CatalogQualityEstimator
from router.routing.decision import RouteRequest, decide
from router.routing.speed import SpeedBook
from tests.conftest import free_port, migrate, seed
from tests.servers import ServerProcess
from web.app import session_factory_for
from web.settings import Settings

pytestmark = pytest.mark.slow
PROMPT = "Who was the first person to walk on the moon, and in which year?"


def _median_us(action: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def _with_cost_map_deployments(snapshot: CatalogSnapshot, wanted: int) -> CatalogSnapshot:
    priced = [
        (name, entry)
        for name, entry in litellm_cost_map().items()
        if entry.get("mode") == "chat"
        and isinstance(entry.get("input_cost_per_token"), int | float)
        and isinstance(entry.get("output_cost_per_token"), int | float)
    ]
    models = sorted(snapshot.models.values(), key=lambda m: m.hf_id)
    extra: dict[str, list[DeploymentView]] = {m.hf_id: list(m.deployments) for m in models}
    for index in range(wanted):
        name, entry = priced[index % len(priced)]
        local = index >= len(priced)
        model = models[index % len(models)]
        extra[model.hf_id].append(
            DeploymentView(
                id=1_000_000 + index,
                name=f"bench/{index}/{name}",
                kind=DeploymentKind.LOCAL if local else DeploymentKind.HOSTED,
                provider=str(entry.get("litellm_provider")),
                served_name=name,
                base_url="http://127.0.0.1:9/v1" if local else None,
                input_cost_per_token=float(entry["input_cost_per_token"]),
                output_cost_per_token=float(entry["output_cost_per_token"]),
                tokens_per_second=None,
                privacy=Privacy.LOCAL if local else Privacy.EXTERNAL,
                max_context=entry.get("max_input_tokens"),
                status=DeploymentStatus.ACTIVE,
            )
        )
    grown = {m.hf_id: dataclasses.replace(m, deployments=tuple(extra[m.hf_id])) for m in models}
    return dataclasses.replace(snapshot, models=MappingProxyType(grown), compliance_cache={})


def test_decision_speed(snapshot: CatalogSnapshot) -> None:
    estimator = CatalogQualityEstimator()
    cases = {
        "auto, no constraints": RouteControls(),
        "auto, min_quality 0.6 + commercial use": RouteControls.model_validate(
            {"min_quality": 0.6, "use": {"commercial": True}}
        ),
    }
    big = _with_cost_map_deployments(snapshot, 5000)
    total = sum(len(m.deployments) for m in big.models.values())
    providers = frozenset({"fireworks_ai", "openai"})
    speeds = SpeedBook()
    for m in list(big.models.values())[:20]:
        for d in m.deployments:
            speeds.observe(d.id, 0.5, 50, ttft=0.1)
    for label, controls in cases.items():
        request = RouteRequest("auto", PROMPT, 1, 200, frozenset(), controls)
        seeded = _median_us(lambda r=request: decide(r, snapshot, estimator), 3000)
        large = _median_us(lambda r=request: decide(r, big, estimator), 50)
        deployments = sum(len(m.deployments) for m in snapshot.models.values())
        print(
            f"\ndecision ({label}): {seeded:.0f} µs median on the seeded catalog "
            f"({deployments} deployments), {large / 1000:.2f} ms with {total} deployments"
        )
        # As the gateway calls it: provider keys checked, measured speeds applied.
        seeded = _median_us(
            lambda r=request: decide(r, snapshot, estimator, frozenset(), providers, speeds),
            3000,
        )
        large = _median_us(
            lambda r=request: decide(r, big, estimator, frozenset(), providers, speeds), 50
        )
        print(
            f"decision ({label}, provider keys and measured speeds): {seeded:.0f} µs median on "
            f"the seeded catalog, {large / 1000:.2f} ms with {total} deployments"
        )


NGINX_CONF = """
daemon off;
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
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""
COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "bench",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


def _wrk(url: str, key: str, connections: int, seconds: int, script: Path) -> tuple[float, float]:
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"MODELYARD_KEY": key, "PATH": "/usr/bin:/bin"},
    ).stdout
    # A benchmark of error answers measures nothing: every response must be a 200.
    assert "Non-2xx" not in out, out
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    median = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    assert median is not None, out
    value, unit = float(median.group(1)), median.group(2)
    return rate, value * {"us": 1e-3, "ms": 1.0, "s": 1000.0}[unit]


def test_gateway_against_a_direct_call(tmp_path: Path) -> None:
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()) or not shutil.which("wrk"):
        pytest.fail("the benchmark needs nginx and wrk: `make bench` installs them")
    nginx_port = free_port()
    (tmp_path / "nginx.conf").write_text(
        NGINX_CONF.format(root=tmp_path, port=nginx_port, body=json.dumps(COMPLETION))
    )
    nginx = subprocess.Popen(["/usr/sbin/nginx", "-c", str(tmp_path / "nginx.conf")])
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    migrate(url)
    engine, factory = session_factory_for(Settings(database_url=url, data_dir=tmp_path))
    seed(factory)
    with transaction(factory) as session:
        service.add_deployment(
            session,
            DeploymentIn.model_validate(
                {
                    "name": "bench/nginx",
                    "model": "phi-2",
                    "kind": "local",
                    "base_url": f"http://127.0.0.1:{nginx_port}/v1",
                    "served_name": "bench",
                }
            ),
        )
        _, key = keys.create_key(session, "bench")
    engine.dispose()
    port = free_port()
    gateway = ServerProcess(
        ["-m", "web", "serve", "--port", str(port)],
        port,
        "/readyz",
        tmp_path / "gateway.log",
        env={"MODELYARD_DATABASE_URL": url, "MODELYARD_LOG_LEVEL": "warning"},
    )
    body = {
        "model": "phi-2",
        "messages": [{"role": "user", "content": "ping"}],
        "route": {"privacy": "local_only"},
    }
    script = tmp_path / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [[{json.dumps(body)}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer " .. os.getenv("MODELYARD_KEY")\n'
    )
    try:
        direct_url = f"http://127.0.0.1:{nginx_port}/v1/chat/completions"
        routed_url = f"{gateway.base_url}/v1/chat/completions"
        _wrk(routed_url, key, 32, 3, script)  # warm-up
        direct_rate, _ = _wrk(direct_url, key, 32, 10, script)
        routed_rate, _ = _wrk(routed_url, key, 32, 10, script)
        _, direct_ms = _wrk(direct_url, key, 1, 10, script)
        _, routed_ms = _wrk(routed_url, key, 1, 10, script)
        print(
            f"\ngateway, one worker, fixed-answer nginx upstream: {routed_rate:.0f} req/s at 32 "
            f"connections (nginx direct {direct_rate:.0f}); median at 1 connection "
            f"{routed_ms:.2f} ms vs {direct_ms:.2f} ms direct (+{routed_ms - direct_ms:.2f} ms)"
        )
    finally:
        gateway.stop()
        nginx.terminate()
        nginx.wait(timeout=10)
