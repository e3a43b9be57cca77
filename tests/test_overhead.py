"""`x-modelyard-overhead-ms` on every model API's answer, streamed or not, and the
`modelyard_overhead_seconds` histogram at /metrics: a real `modelyard serve` process routing to
the fault upstream, whose `late-echo` model waits a quarter of a second before its first byte.
The header must leave that wait out: what it reports is the gateway's own time."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import echo_deployment, prepare_database, start_gateway
from tests.servers import ServerProcess

HEADER = "x-modelyard-overhead-ms"
UPSTREAM_WAIT_MS = 250  # late-echo's pause (tests/fault_upstream.py)
ASK = [{"role": "user", "content": "ping"}]
ROUTE = {"privacy": "local_only", "exclude": ["smollm2"]}


@dataclass
class Served:
    server: ServerProcess
    key: str

    def post(self, path: str, body: dict[str, Any]) -> tuple[httpx.Response, float]:
        """The answer, read to its end, and the milliseconds the client waited for it."""
        started = time.perf_counter()
        answer = httpx.post(
            self.server.base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=60,
        )
        return answer, (time.perf_counter() - started) * 1000

    def overhead_counts(self) -> dict[str, float]:
        text = httpx.get(self.server.base_url + "/metrics", timeout=10).text
        pattern = r'modelyard_overhead_seconds_count\{path="([^"]+)"\} ([\d.e+]+)'
        return {path: float(count) for path, count in re.findall(pattern, text)}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, fault_upstream: ServerProcess
) -> Iterator[Served]:
    folder: Path = tmp_path_factory.mktemp("overhead")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    deployments = [
        echo_deployment(fault_upstream),
        # Another model, served late: a plain phi-2 request never lands on it.
        echo_deployment(
            fault_upstream,
            name="test/mistral-late",
            model="mistral-7b-instruct",
            served_name="late-echo",
        ),
    ]
    secrets = prepare_database(url, folder, deployments, {"app": {"privacy": "any"}})
    server = start_gateway(folder, {"MODELYARD_DATABASE_URL": url})
    yield Served(server, secrets["app"])
    server.stop()


SURFACES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": ("/v1/chat/completions", {"model": "phi-2", "messages": ASK, "route": ROUTE}),
    "completions": ("/v1/completions", {"model": "phi-2", "prompt": "ping", "route": ROUTE}),
    "responses": ("/v1/responses", {"model": "phi-2", "input": "ping", "route": ROUTE}),
    "messages": (
        "/v1/messages",
        {"model": "phi-2", "max_tokens": 20, "messages": ASK, "route": ROUTE},
    ),
}


def overhead_of(answer: httpx.Response) -> float:
    assert HEADER in answer.headers, dict(answer.headers)
    value = float(answer.headers[HEADER])
    assert value >= 0
    return value


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("surface", sorted(SURFACES))
def test_every_model_api_says_its_overhead(served: Served, surface: str, stream: bool) -> None:
    path, body = SURFACES[surface]
    before = served.overhead_counts().get(path, 0.0)
    answer, waited_ms = served.post(path, {**body, "stream": stream})
    assert answer.status_code == 200, answer.text
    assert ("text/event-stream" in answer.headers["content-type"]) == stream
    assert overhead_of(answer) < waited_ms  # a part of what the client waited for
    assert served.overhead_counts()[path] == before + 1  # and in the histogram


def test_embeddings_say_their_overhead(served: Served) -> None:
    before = served.overhead_counts().get("/v1/embeddings", 0.0)
    answer, waited_ms = served.post("/v1/embeddings", {"model": "wordllama", "input": ["a cat"]})
    assert answer.status_code == 200, answer.text
    assert overhead_of(answer) < waited_ms
    assert served.overhead_counts()["/v1/embeddings"] == before + 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_wait_for_the_upstream_is_not_overhead(served: Served, stream: bool) -> None:
    body = {"model": "mistral-7b-instruct", "messages": ASK, "route": ROUTE, "stream": stream}
    answer, waited_ms = served.post("/v1/chat/completions", body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-modelyard-deployment"] == "test/mistral-late"
    assert waited_ms >= UPSTREAM_WAIT_MS
    # Most of the quarter second went to the upstream, and none of it is reported as ours.
    assert overhead_of(answer) < waited_ms - 0.8 * UPSTREAM_WAIT_MS


def test_a_refusal_before_any_upstream_is_all_overhead(served: Served) -> None:
    body = {"model": "no-such-model", "messages": ASK}
    answer, waited_ms = served.post("/v1/chat/completions", body)
    assert answer.status_code in (400, 404), answer.text
    assert 0 <= overhead_of(answer) < waited_ms


def test_other_paths_carry_no_overhead_header(served: Served) -> None:
    for path in ("/healthz", "/v1/models", "/metrics"):
        answer = httpx.get(
            served.server.base_url + path,
            headers={"Authorization": f"Bearer {served.key}"},
            timeout=10,
        )
        assert answer.status_code == 200, (path, answer.text)
        assert HEADER not in answer.headers, path
    text = httpx.get(served.server.base_url + "/metrics", timeout=10).text
    assert "# TYPE modelyard_overhead_seconds histogram" in text
    assert 'modelyard_overhead_seconds_bucket{le="0.0005",path="/v1/chat/completions"}' in text
