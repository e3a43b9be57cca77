"""What the Responses and Messages translations add over chat completions, printed for the
closing note (`make bench`); nothing here asserts a time. Target: ≤ 0.3 ms median added.

- In process: parsing, checking and translating a request into the canonical chat request,
  and its answer back, against validating the same request as chat (µs, median).
- Through a real gateway process: the median latency of the same request as chat, as
  Responses (store false, and stored) and as Messages, sent one of each in turn, against
  nginx answering a fixed completion (the same upstream as the gateway benchmark)."""

from __future__ import annotations

import json
import random
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.api import messages, responses
from router.api.responses_messages_http import parse
from router.core.requests import ChatCompletionIn
from tests.conftest import free_port, prepare_database, start_gateway
from tests.perf.test_router_perf import COMPLETION, NGINX_CONF, _median_us

pytestmark = pytest.mark.slow
REQUESTS = 1000
PROMPT = "Who was the first person to walk on the moon, and in which year?"
CHAT = {"model": "phi-2", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 64}
RESPONSES = {"model": "phi-2", "input": PROMPT, "max_output_tokens": 64, "store": False}
MESSAGES = {"model": "phi-2", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 64}


def _chat_in(raw: bytes) -> Any:
    return ChatCompletionIn.model_validate_json(raw)


def _responses_in(raw: bytes) -> Any:
    req = parse(responses.ResponsesIn, raw)
    responses.check(req)
    body, _ = responses.to_canonical(req, [])
    return responses.from_chat(COMPLETION, responses.skeleton(req, "resp_x")), body


def _messages_in(raw: bytes) -> Any:
    req = parse(messages.MessagesIn, raw)
    messages.check(req)
    return messages.from_chat(COMPLETION), messages.to_canonical(req)


def test_translation_cost_in_process() -> None:
    rows = []
    for name, action, body in (
        ("chat (validation only)", _chat_in, CHAT),
        ("responses (in and out)", _responses_in, RESPONSES),
        ("messages (in and out)", _messages_in, MESSAGES),
    ):
        raw = json.dumps(body).encode()
        rows.append((name, _median_us(lambda raw=raw, action=action: action(raw), 20_000)))
    base = rows[0][1]
    print("\nrequest handling in process, median µs:")
    for name, median in rows:
        print(f"  {name:<26} {median:7.1f} µs  (+{median - base:.1f} µs over chat)")


def test_added_latency_through_the_gateway(tmp_path: Path) -> None:
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.fail("the benchmark needs nginx: `make bench` installs it")
    nginx_port = free_port()
    (tmp_path / "nginx.conf").write_text(
        NGINX_CONF.format(root=tmp_path, port=nginx_port, body=json.dumps(COMPLETION))
    )
    nginx = subprocess.Popen(["/usr/sbin/nginx", "-c", str(tmp_path / "nginx.conf")])
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    deployment = {
        "name": "bench/nginx",
        "model": "phi-2",
        "base_url": f"http://127.0.0.1:{nginx_port}/v1",
        "served_name": "bench",
    }
    key = prepare_database(url, tmp_path, [deployment], api_keys={"bench": {}})["bench"]
    env = {"MODELYARD_DATABASE_URL": url, "MODELYARD_LOG_LEVEL": "warning"}
    gateway = start_gateway(tmp_path, env)
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("chat completions", "/v1/chat/completions", CHAT, "Authorization"),
        ("responses, store false", "/v1/responses", RESPONSES, "Authorization"),
        ("responses, stored", "/v1/responses", {**RESPONSES, "store": True}, "Authorization"),
        ("messages", "/v1/messages", MESSAGES, "x-api-key"),
    ]
    try:
        headers = []
        for _name, path, body, header in cases:
            sent = {header: ("Bearer " if header == "Authorization" else "") + key}
            answer = httpx.post(gateway.base_url + path, json=body, headers=sent, timeout=30)
            assert answer.status_code == 200, answer.text
            headers.append(sent)
        # Interleaved, one request of each case in turn over kept-alive connections: the
        # machine is shared, and a slow spell then hits every case alike.
        samples: list[list[float]] = [[] for _ in cases]
        clients = [httpx.Client(base_url=gateway.base_url, timeout=30) for _ in cases]
        order = list(range(len(cases)))
        shuffle = random.Random(7).shuffle
        for turn in range(REQUESTS + 50):
            # A new order each turn: whatever a request leaves behind (the stored response's
            # database write) lands on a different case each time, not always on the next.
            shuffle(order)
            for index in order:
                _name, path, body, _header = cases[index]
                raw = json.dumps(body).encode()
                started = time.perf_counter()
                clients[index].post(path, content=raw, headers=headers[index])
                if turn >= 50:  # the first ones warm up
                    samples[index].append((time.perf_counter() - started) * 1000)
        for client in clients:
            client.close()
        base = statistics.median(samples[0])
        print(f"\nsame request through the gateway, {REQUESTS} each, interleaved, nginx upstream:")
        for (name, *_), figures in zip(cases, samples, strict=True):
            median = statistics.median(figures)
            print(f"  {name:<24} median {median:.3f} ms (+{median - base:.3f} ms over chat)")
    finally:
        gateway.stop()
        nginx.terminate()
        nginx.wait(timeout=10)
