"""What tracing costs per request, printed for the closing note (`make bench`); nothing here
asserts a time. A trivial ASGI app is called three ways: directly; through ModelyardApp's
dispatch with telemetry unset (the default: the cost should be nil); and with telemetry set,
its spans exported to an OTLP receiver the test runs."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest

from router.pipeline.telemetry import Telemetry
from tests.otlp_receiver import OtlpReceiver
from web.tracing import traced

pytestmark = pytest.mark.slow
ROUNDS = 20_000
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/v1/chat/completions",
    "headers": [(b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
}


async def answer(_scope: Any, _receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def sink(_message: Any) -> None:
    return None


def _per_call_us(call: Any) -> float:
    async def run() -> list[float]:
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(ROUNDS):
                await call()
            samples.append((time.perf_counter() - start) / ROUNDS * 1e6)
        return samples

    return statistics.median(asyncio.run(run()))


def test_tracing_costs_nothing_when_unset() -> None:
    telemetry: Telemetry | None = None

    async def dispatch_unset() -> None:
        # ModelyardApp.__call__'s test, as it runs with telemetry unset.
        if telemetry is not None and SCOPE["type"] == "http" and SCOPE["method"] == "POST":
            raise AssertionError
        await answer(SCOPE, receive, sink)

    receiver = OtlpReceiver()
    enabled = Telemetry(receiver.endpoint)
    try:
        direct = _per_call_us(lambda: answer(SCOPE, receive, sink))
        unset = _per_call_us(dispatch_unset)
        traced_us = _per_call_us(lambda: traced(enabled, answer, SCOPE, receive, sink))
    finally:
        enabled.shutdown()
        receiver.stop()
    print(
        f"\nper request: direct {direct:.2f} µs; telemetry unset {unset:.2f} µs "
        f"(+{unset - direct:.2f}); one span exported over OTLP {traced_us:.2f} µs "
        f"(+{traced_us - direct:.2f}); spans received {len(receiver.received.spans)}"
    )
