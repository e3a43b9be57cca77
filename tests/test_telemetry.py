"""Traces: a real `modelyard serve` process exports one span per model request over OTLP/HTTP
to a receiver the suite runs (the OpenTelemetry Collector does not install here; the receiver
decodes the exporter's protobuf with opentelemetry-proto). The span continues the caller's
trace, carries the GenAI attributes, fallbacks and cool-downs as events, and never the prompt
or a key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from tests.conftest import echo_deployment, prepare_database, start_gateway
from tests.otlp_receiver import OtlpReceiver
from tests.servers import ServerProcess
from web.app import create_app
from web.settings import Settings

PROMPT = "my-secret-prompt-9c1d"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
CHEAP = {"input_cost_per_token": 1e-8, "output_cost_per_token": 1e-8}
DEAR = {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    found = OtlpReceiver()
    yield found
    found.stop()


@pytest.fixture(scope="module")
def traced_gateway(
    tmp_path_factory: pytest.TempPathFactory,
    fault_upstream: ServerProcess,
    receiver: OtlpReceiver,
) -> Iterator[tuple[ServerProcess, str]]:
    folder: Path = tmp_path_factory.mktemp("traced")
    url = f"sqlite:///{folder / 'modelyard.db'}"
    # phi-2's cheapest local deployment always fails; the dearer one echoes.
    broken = echo_deployment(fault_upstream, name="test/broken", served_name="server-error")
    working = echo_deployment(fault_upstream, name="test/echo")
    secrets = prepare_database(
        url, folder, [{**broken, **CHEAP}, {**working, **DEAR}], api_keys={"tracer": {}}
    )
    env = {
        "MODELYARD_DATABASE_URL": url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # the SDK's batch delay: export within 50 ms
    }
    server = start_gateway(folder, env, "traced")
    yield server, secrets["tracer"]
    server.stop()


def test_one_span_per_request_continuing_the_callers_trace(
    traced_gateway: tuple[ServerProcess, str], receiver: OtlpReceiver
) -> None:
    server, key = traced_gateway
    client = OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    for _ in range(3):  # the third failure of test/broken puts it to cool down
        answer = client.chat.completions.create(
            model="phi-2",
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=8,
            extra_headers={"traceparent": traceparent},
        )
        assert answer.model == "microsoft/phi-2"
    stream = client.chat.completions.create(
        model="phi-2", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    spans = receiver.received.wait_for(4)
    ours = [s for s in spans if s["trace_id"] == TRACE_ID]
    assert len(ours) == 3 and all(s["parent_span_id"] == PARENT_ID for s in ours)
    first: dict[str, Any] = ours[0]
    attributes = first["attributes"]
    assert first["name"] == "chat phi-2" and first["resource"]["service.name"] == "modelyard"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "phi-2"
    assert attributes["gen_ai.response.model"] == "microsoft/phi-2"
    assert attributes["modelyard.deployment"] == "test/echo"
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert attributes["modelyard.cost_usd"] > 0
    assert attributes["modelyard.route.strategy"] == "cheapest"
    assert attributes["modelyard.route.id"].startswith("route-")
    assert attributes["http.response.status_code"] == 200
    assert attributes["modelyard.attempts"] == 2
    names = [name for name, _ in first["events"]]
    assert names == ["modelyard.fallback"]
    fallback = first["events"][0][1]
    assert fallback["modelyard.deployment"] == "test/broken"
    assert fallback["modelyard.upstream_status"] == 500
    third = [name for name, _ in ours[2]["events"]]
    assert third == ["modelyard.fallback", "modelyard.cooldown"]
    # The stream: a trace of its own (no traceparent), the cooled deployment not tried.
    streamed = next(s for s in spans if s["trace_id"] != TRACE_ID)
    assert streamed["parent_span_id"] == ""
    assert streamed["attributes"]["modelyard.stream"] is True
    assert streamed["attributes"]["modelyard.attempts"] == 1
    raw = b"".join(receiver.received.raw)
    assert PROMPT.encode() not in raw and key.encode() not in raw and key[:12].encode() not in raw


def test_a_refused_request_has_its_span_too(
    traced_gateway: tuple[ServerProcess, str], receiver: OtlpReceiver
) -> None:
    server, key = traced_gateway
    before = len(receiver.received.spans)
    client = OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)
    with pytest.raises(Exception, match="no deployment"):
        client.chat.completions.create(
            model="phi-2",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"route": {"max_cost_usd": 0}},
        )
    spans = receiver.received.wait_for(before + 1)
    refused = spans[-1]["attributes"]
    assert refused["http.response.status_code"] == 400 and refused["error.type"] == "400"
    assert refused["gen_ai.request.model"] == "phi-2"


def test_no_tracing_unless_an_endpoint_is_set(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    assert app.telemetry is None  # type: ignore[attr-defined]
    assert app.state.gateway.telemetry is None
