"""How long a request waited on its upstreams, so that its answer can say what the gateway
itself cost (`x-modelyard-overhead-ms`, web/overhead.py).

The HTTP layer opens a clock per request; the executor adds the time each attempt spent in its
adapter (connecting, sending, waiting for the answer or a stream's first block; an embedded
model's generation counts as waiting too). A context variable carries it, so every surface's
path through the executor is timed without passing it along; with no clock open (a gateway
used outside the web app) nothing is measured."""

from __future__ import annotations

from contextvars import ContextVar, Token


class UpstreamClock:
    __slots__ = ("waited",)

    def __init__(self) -> None:
        self.waited = 0.0  # seconds spent waiting on upstreams so far


_current: ContextVar[UpstreamClock | None] = ContextVar("modelyard_upstream_clock", default=None)


def open_clock() -> tuple[UpstreamClock, Token[UpstreamClock | None]]:
    clock = UpstreamClock()
    return clock, _current.set(clock)


def close_clock(token: Token[UpstreamClock | None]) -> None:
    _current.reset(token)


def current_clock() -> UpstreamClock | None:
    return _current.get()
