"""Every answer of a model API says what the gateway itself cost: `x-modelyard-overhead-ms`,
the time from the request's arrival to its answer's headers (for a stream, its first chunk)
less the time spent waiting on upstreams (router/pipeline/upstream_clock.py). The same value
goes to the `modelyard_overhead_seconds` histogram at /metrics, by path.

The clock starts when the server hands the request to the app, so the server's own HTTP
parsing before that is not in it; the benchmark (tests/perf/test_chat_surface_perf.py) shows
the whole difference against a bare pass-through beside it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import Histogram
from starlette.types import Message, Receive, Scope, Send

from router.pipeline.upstream_clock import close_clock, open_clock

HEADER = b"x-modelyard-overhead-ms"
# The APIs that call models; everything else (pages, admin, /metrics) is not measured.
PATHS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/responses",
        "/v1/messages",
        "/v1/embeddings",
    }
)

App = Callable[[Scope, Receive, Send], Awaitable[None]]


class Overhead:
    def __init__(self, histogram: Histogram, paths: Iterable[str] = PATHS) -> None:
        # One child per path, looked up once: `labels()` costs more than the observation.
        self.children = {path: histogram.labels(path) for path in paths}

    def measures(self, scope: Scope) -> bool:
        return (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.children
        )

    async def __call__(self, app: App, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = time.perf_counter()
        clock, token = open_clock()
        child = self.children[scope["path"]]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                overhead = time.perf_counter() - arrived - clock.waited
                child.observe(overhead)
                value = f"{overhead * 1000:.3f}".encode()
                message = {**message, "headers": [*message.get("headers", ()), (HEADER, value)]}
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            close_clock(token)
