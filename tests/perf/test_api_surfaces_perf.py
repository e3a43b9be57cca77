"""What the Responses and Messages translations add over chat completions, printed for the
closing note (`make bench`); nothing here asserts a time. Target: ≤ 0.3 ms median added.

- In process: parsing, checking and translating a request into the canonical chat request,
  and its answer back, against validating the same request as chat (µs, median).
- Through a real gateway process: the median latency at 1 connection (wrk) of the same
  request as chat, as Responses (store false, and stored) and as Messages, against nginx
  answering a fixed completion (the same upstream as the gateway benchmark)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from router.apis import messages, responses
from router.apis.endpoints import parse
from router.schemas import ChatCompletionIn
from tests.conftest import free_port, prepare_database, start_gateway
from tests.perf.test_router_perf import COMPLETION, NGINX_CONF, _median_us, _wrk

pytestmark = pytest.mark.slow
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
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()) or not shutil.which("wrk"):
        pytest.fail("the benchmark needs nginx and wrk: `make bench` installs them")
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
        results = []
        for name, path, body, header in cases:
            script = tmp_path / f"{name.split()[0]}-{len(results)}.lua"
            prefix = "Bearer " if header == "Authorization" else ""
            script.write_text(
                'wrk.method = "POST"\n'
                f"wrk.body = [[{json.dumps(body)}]]\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["{header}"] = "{prefix}" .. os.getenv("MODELYARD_KEY")\n'
            )
            _wrk(gateway.base_url + path, key, 1, 2, script)  # warm-up
            rate, median = _wrk(gateway.base_url + path, key, 1, 10, script)
            results.append((name, median, rate))
        base = results[0][1]
        print("\nsame request through the gateway, 1 connection, nginx upstream:")
        for name, median, rate in results:
            print(
                f"  {name:<24} median {median:.3f} ms (+{median - base:.3f} ms over chat), "
                f"{rate:.0f} req/s"
            )
    finally:
        gateway.stop()
        nginx.terminate()
        nginx.wait(timeout=10)
